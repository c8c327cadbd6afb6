"""XML-RPC, just enough of it for Pingback, parsed defensively.

XML from the network is hostile: the parser never loads a DTD, never expands an entity,
never touches the network, and a document that declares a DOCTYPE at all is refused (the
"billion laughs" and external-entity attacks both need one). Size, nesting depth and the
number of elements are bounded while parsing, so a request costs at most a few thousand
element events whatever it contains.

Values map as the XML-RPC specification says: ``string`` (and an untyped ``value``) →
``str``, ``int``/``i4``/``i8`` → ``int``, ``boolean`` → ``bool``, ``double`` → ``float``,
``base64`` → ``bytes``, ``dateTime.iso8601`` → ``str`` (as sent), ``array`` → ``list``,
``struct`` → ``dict``, ``nil`` → ``None``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from typing import Any

from lxml import etree

logger = logging.getLogger(__name__)

#: Largest XML-RPC body read, in bytes. A pingback.ping call is about 400 bytes.
MAX_BODY = 32 * 1024
#: Deepest element nesting accepted. A pingback call nests 5 deep; arrays add 2 per level.
MAX_DEPTH = 24
#: Most elements accepted in one document.
MAX_ELEMENTS = 2_000

# Standard fault codes of the "specification for fault code interoperability".
PARSE_ERROR = -32700
UNSUPPORTED_ENCODING = -32701
INVALID_XMLRPC = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

# XML 1.0 forbids most control characters even as references; lxml refuses them in text.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_DOCTYPE = re.compile(rb"<!\s*(doctype|entity)", re.IGNORECASE)


class Fault(Exception):
    """An XML-RPC fault: raised by the parsers, answered by :func:`dump_fault`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__("%d: %s" % (code, message))
        self.code = code
        self.message = message


def _parser() -> etree.XMLPullParser:
    # resolve_entities=False and load_dtd=False: no entity is ever expanded and no DTD is
    # read; no_network=True: nothing is fetched even if something asked to. huge_tree=False
    # keeps libxml2's own depth and text-size limits as a second fence.
    return etree.XMLPullParser(
        events=("start", "end"),
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        recover=False,
    )


def parse_document(
    body: bytes, *, max_depth: int = MAX_DEPTH, max_elements: int = MAX_ELEMENTS
) -> etree._Element:
    """Parse untrusted XML into an element tree, or raise :class:`Fault` (parse error).

    :param body: the raw request or response body.
    :param max_depth: deepest nesting accepted.
    :param max_elements: most elements accepted.

    >>> parse_document(b"<methodCall><methodName>x</methodName></methodCall>").tag
    'methodCall'
    """
    if len(body) > MAX_BODY:
        raise Fault(PARSE_ERROR, "parse error: document larger than %d bytes" % MAX_BODY)
    if _DOCTYPE.search(body):
        raise Fault(PARSE_ERROR, "parse error: DTDs and entity declarations are not allowed")
    parser = _parser()
    depth = 0
    count = 0
    try:
        # Feed in slices so that depth and size are checked while parsing, not after.
        for start in range(0, len(body), 4096):
            parser.feed(body[start : start + 4096])
            for event, _element in parser.read_events():
                if event == "start":
                    depth += 1
                    count += 1
                    if depth > max_depth:
                        raise Fault(PARSE_ERROR, "parse error: nested deeper than %d" % max_depth)
                    if count > max_elements:
                        raise Fault(
                            PARSE_ERROR, "parse error: more than %d elements" % max_elements
                        )
                else:
                    depth -= 1
        root = parser.close()
    except etree.XMLSyntaxError as e:
        raise Fault(
            PARSE_ERROR, "parse error: not well formed (%s)" % _clean(str(e))[:200]
        ) from None
    except (ValueError, LookupError) as e:  # unknown or lying encoding declarations
        raise Fault(
            UNSUPPORTED_ENCODING, "parse error: unsupported encoding (%s)" % _clean(str(e))[:200]
        ) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        # UTF-16 or otherwise encoded bodies slip past the byte check above.
        raise Fault(PARSE_ERROR, "parse error: DTDs and entity declarations are not allowed")
    for node in root.iter():
        if not isinstance(node.tag, str):  # an unexpanded entity reference
            raise Fault(PARSE_ERROR, "parse error: entity references are not allowed")
    return root


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _children(element: etree._Element) -> list[etree._Element]:
    return [child for child in element if isinstance(child.tag, str)]


def _text(element: etree._Element) -> str:
    return element.text or ""


def _value(element: etree._Element) -> Any:
    """Decode a ``<value>`` element."""
    kids = _children(element)
    if not kids:
        return _text(element)  # an untyped value is a string
    if len(kids) > 1 or (element.text and element.text.strip()):
        raise Fault(INVALID_XMLRPC, "invalid XML-RPC: a value holds one typed element")
    node = kids[0]
    kind = node.tag
    text = _text(node).strip()
    try:
        if kind == "string":
            if _children(node):
                raise Fault(INVALID_XMLRPC, "invalid XML-RPC: markup inside a string")
            return _text(node)
        if kind in ("int", "i4", "i8"):
            number = int(text, 10)
            limit = 2**63 if kind == "i8" else 2**31
            if not -limit <= number < limit:
                raise Fault(INVALID_XMLRPC, "invalid XML-RPC: %s out of range" % kind)
            return number
        if kind == "boolean":
            if text not in ("0", "1"):
                raise Fault(INVALID_XMLRPC, "invalid XML-RPC: boolean must be 0 or 1")
            return text == "1"
        if kind == "double":
            return float(text)
        if kind == "base64":
            return base64.b64decode(text, validate=False)
        if kind == "dateTime.iso8601":
            return text
        if kind == "nil":
            return None
        if kind == "array":
            data = _children(node)
            if len(data) != 1 or data[0].tag != "data":
                raise Fault(INVALID_XMLRPC, "invalid XML-RPC: an array holds one data element")
            values = _children(data[0])
            if any(v.tag != "value" for v in values):
                raise Fault(INVALID_XMLRPC, "invalid XML-RPC: array data holds values")
            return [_value(v) for v in values]
        if kind == "struct":
            result: dict[str, Any] = {}
            for member in _children(node):
                parts = {child.tag: child for child in _children(member)}
                if (
                    member.tag != "member"
                    or set(parts) != {"name", "value"}
                    or len(_children(member)) != 2
                ):
                    raise Fault(
                        INVALID_XMLRPC, "invalid XML-RPC: a struct member has a name and a value"
                    )
                result[_text(parts["name"])] = _value(parts["value"])
            return result
    except (ValueError, binascii.Error):
        raise Fault(INVALID_XMLRPC, "invalid XML-RPC: bad %s value" % kind) from None
    raise Fault(INVALID_XMLRPC, "invalid XML-RPC: unknown type %s" % _clean(str(kind))[:40])


def parse_call(body: bytes) -> tuple[str, list[Any]]:
    """Parse a ``methodCall``; return the method name and its parameters.

    :raises Fault: parse error, or a document that is not an XML-RPC call.

    >>> parse_call(b"<methodCall><methodName>m</methodName><params><param><value>"
    ...            b"<string>a</string></value></param></params></methodCall>")
    ('m', ['a'])
    """
    root = parse_document(body)
    if root.tag != "methodCall":
        raise Fault(INVALID_XMLRPC, "invalid XML-RPC: expected a methodCall")
    kids = _children(root)
    names = [k for k in kids if k.tag == "methodName"]
    params_nodes = [k for k in kids if k.tag == "params"]
    if len(names) != 1 or len(params_nodes) > 1 or len(kids) != len(names) + len(params_nodes):
        raise Fault(INVALID_XMLRPC, "invalid XML-RPC: a methodCall holds methodName and params")
    method = _text(names[0]).strip()
    if not method or not re.fullmatch(r"[A-Za-z0-9_.:/]{1,100}", method):
        raise Fault(INVALID_XMLRPC, "invalid XML-RPC: bad method name")
    params: list[Any] = []
    if params_nodes:
        for param in _children(params_nodes[0]):
            values = _children(param)
            if param.tag != "param" or len(values) != 1 or values[0].tag != "value":
                raise Fault(INVALID_XMLRPC, "invalid XML-RPC: a param holds one value")
            params.append(_value(values[0]))
    return method, params


def parse_response(body: bytes) -> Any:
    """Parse a ``methodResponse``; return its value or raise the :class:`Fault` it carries."""
    root = parse_document(body)
    if root.tag != "methodResponse":
        raise Fault(INVALID_XMLRPC, "invalid XML-RPC: expected a methodResponse")
    kids = _children(root)
    if len(kids) != 1:
        raise Fault(INVALID_XMLRPC, "invalid XML-RPC: a methodResponse holds params or a fault")
    node = kids[0]
    if node.tag == "fault":
        values = _children(node)
        if len(values) != 1 or values[0].tag != "value":
            raise Fault(INVALID_XMLRPC, "invalid XML-RPC: a fault holds one value")
        fault = _value(values[0])
        if not isinstance(fault, dict):
            raise Fault(INVALID_XMLRPC, "invalid XML-RPC: a fault value is a struct")
        code = fault.get("faultCode")
        message = fault.get("faultString")
        raise Fault(
            code if isinstance(code, int) and not isinstance(code, bool) else 0,
            message if isinstance(message, str) else "",
        )
    if node.tag != "params":
        raise Fault(INVALID_XMLRPC, "invalid XML-RPC: a methodResponse holds params or a fault")
    params = _children(node)
    if len(params) != 1 or params[0].tag != "param":
        raise Fault(INVALID_XMLRPC, "invalid XML-RPC: a response holds one param")
    values = _children(params[0])
    if len(values) != 1 or values[0].tag != "value":
        raise Fault(INVALID_XMLRPC, "invalid XML-RPC: a param holds one value")
    return _value(values[0])


# --- writing ----------------------------------------------------------------------------------


def _dump_value(parent: etree._Element, value: Any) -> None:
    node = etree.SubElement(parent, "value")
    if isinstance(value, bool):
        etree.SubElement(node, "boolean").text = "1" if value else "0"
    elif isinstance(value, int):
        etree.SubElement(node, "int").text = str(value)
    elif isinstance(value, float):
        etree.SubElement(node, "double").text = repr(value)
    elif isinstance(value, str):
        etree.SubElement(node, "string").text = _clean(value)
    elif isinstance(value, bytes):
        etree.SubElement(node, "base64").text = base64.b64encode(value).decode("ascii")
    elif value is None:
        etree.SubElement(node, "nil")
    elif isinstance(value, (list, tuple)):
        data = etree.SubElement(etree.SubElement(node, "array"), "data")
        for item in value:
            _dump_value(data, item)
    elif isinstance(value, dict):
        struct = etree.SubElement(node, "struct")
        for key, item in value.items():
            member = etree.SubElement(struct, "member")
            etree.SubElement(member, "name").text = _clean(str(key))
            _dump_value(member, item)
    else:
        raise TypeError("cannot encode %r in XML-RPC" % type(value).__name__)


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def dump_call(method: str, params: list[Any]) -> bytes:
    """An XML-RPC ``methodCall`` document.

    >>> dump_call("pingback.ping", ["https://a.example/", "https://b.example/"])[:38]
    b"<?xml version='1.0' encoding='UTF-8'?>"
    """
    root = etree.Element("methodCall")
    etree.SubElement(root, "methodName").text = method
    container = etree.SubElement(root, "params")
    for value in params:
        _dump_value(etree.SubElement(container, "param"), value)
    return _serialize(root)


def dump_response(value: Any) -> bytes:
    """A successful ``methodResponse`` carrying ``value``."""
    root = etree.Element("methodResponse")
    _dump_value(etree.SubElement(etree.SubElement(root, "params"), "param"), value)
    return _serialize(root)


def dump_fault(code: int, message: str) -> bytes:
    """A ``methodResponse`` carrying a fault."""
    root = etree.Element("methodResponse")
    _dump_value(etree.SubElement(root, "fault"), {"faultCode": int(code), "faultString": message})
    return _serialize(root)
