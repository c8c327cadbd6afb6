"""Endpoint discovery: where a page wants its Webmention, Pingback or Trackback sent.

Pure functions over a response's URL, headers and HTML; the fetching is done by
:mod:`linkback.protocols.sender` through :func:`linkback.fetch.fetch`.

Webmention (W3C Recommendation, section 3.1.2): the first ``Link`` header with
``rel="webmention"``, else the first ``<link>`` or ``<a>`` element with that rel and an
``href`` attribute, in document order. Relative URLs resolve against the page's final URL
after redirects, an empty ``href`` names the page itself, and the endpoint's query string
is kept as it is. Pingback 1.0: the ``X-Pingback`` header, else ``<link rel="pingback">``.
Trackback: the RDF block whose ``dc:identifier`` is the page (the "autodiscovery" that
Movable Type and WordPress emit), else ``<link rel="trackback">``.
"""

from __future__ import annotations

import html as html_module
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urljoin

from lxml import etree

from .. import urls
from ..extract import parse_html
from .xmlrpc import Fault, parse_document

logger = logging.getLogger(__name__)

#: Rel values that name a Webmention endpoint. The URL forms come from the draft that
#: preceded the Recommendation and are still sent by old sites.
WEBMENTION_RELS = frozenset({"webmention", "http://webmention.org", "http://webmention.org/"})

#: Namespaces of the Trackback RDF block.
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC_NS = "http://purl.org/dc/elements/1.1/"
TRACKBACK_NS = "http://madskills.com/public/xml/rss/module/trackback/"

#: Most RDF blocks looked at on one page (an archive page may carry one per entry).
MAX_RDF_BLOCKS = 50

Headers = Mapping[str, str] | Iterable[tuple[str, str]]

_RDF_BLOCK = re.compile(r"<rdf:RDF\b.*?</rdf:RDF\s*>", re.DOTALL | re.IGNORECASE)
_ATTR = re.compile(r"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
# HTML's URL parser drops tabs and newlines anywhere and trims spaces at the ends.
_URL_NOISE = re.compile(r"[\t\n\r]")


@dataclass(frozen=True)
class Endpoints:
    """The endpoints a page advertises; ``None`` where it advertises none."""

    webmention: str | None = None
    pingback: str | None = None
    trackback: str | None = None

    def preferred(self) -> tuple[str, str] | None:
        """``(protocol, endpoint)`` to use: Webmention first, then Pingback, then Trackback."""
        for protocol in ("webmention", "pingback", "trackback"):
            endpoint = getattr(self, protocol)
            if endpoint:
                return protocol, endpoint
        return None


def header_values(headers: Headers, name: str) -> list[str]:
    """Every value of header ``name`` (case-insensitive), in order."""
    name = name.lower()
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [value for key, value in items if key.lower() == name]


def parse_link_header(value: str) -> list[tuple[str, dict[str, str]]]:
    """Parse an RFC 8288 ``Link`` header into ``(target, params)`` pairs, in order.

    Commas and semicolons inside ``<…>`` and quoted strings are data, not separators.
    Parameter names are lower-cased; a parameter given twice keeps its first value
    (RFC 8288, section 3).

    >>> parse_link_header('</a,b>; rel="x y", <https://e.example/>; REL=webmention')
    [('/a,b', {'rel': 'x y'}), ('https://e.example/', {'rel': 'webmention'})]
    """
    links: list[tuple[str, dict[str, str]]] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in " \t,":
            i += 1
        if i >= n:
            break
        if value[i] != "<":
            # Not a link-value: skip to the next top-level comma.
            i = _skip_to_comma(value, i)
            continue
        end = value.find(">", i + 1)
        if end < 0:
            break
        target = value[i + 1 : end].strip()
        i = end + 1
        params: dict[str, str] = {}
        while i < n:
            while i < n and value[i] in " \t":
                i += 1
            if i >= n or value[i] == ",":
                break
            if value[i] != ";":
                i = _skip_to_comma(value, i)
                break
            i += 1
            while i < n and value[i] in " \t":
                i += 1
            start = i
            while i < n and value[i] not in "=;, \t":
                i += 1
            name = value[start:i].lower().rstrip("*")
            while i < n and value[i] in " \t":
                i += 1
            param = ""
            if i < n and value[i] == "=":
                i += 1
                while i < n and value[i] in " \t":
                    i += 1
                if i < n and value[i] == '"':
                    i += 1
                    chars = []
                    while i < n and value[i] != '"':
                        if value[i] == "\\" and i + 1 < n:
                            i += 1
                        chars.append(value[i])
                        i += 1
                    i += 1
                    param = "".join(chars)
                else:
                    start = i
                    while i < n and value[i] not in ";,":
                        i += 1
                    param = value[start:i].strip()
            if name and name not in params:
                params[name] = param
        links.append((target, params))
    return links


def _skip_to_comma(value: str, i: int) -> int:
    quoted = False
    while i < len(value):
        char = value[i]
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            return i + 1
        i += 1
    return i


def _rels(value: str | None) -> set[str]:
    return {rel.lower() for rel in (value or "").split()}


def resolve(base: str, href: str) -> str | None:
    """``href`` resolved against ``base``, or ``None`` unless the result is http(s)."""
    href = _URL_NOISE.sub("", href).strip(" \x0c")
    try:
        url = urljoin(base, href)
    except ValueError:
        return None
    if not url.lower().startswith(("http://", "https://")) or len(url) > urls.MAX_URL_LENGTH:
        return None
    return url.split("#", 1)[0]


def webmention_from_headers(url: str, headers: Headers) -> str | None:
    """The first ``Link`` header target with ``rel="webmention"``, resolved."""
    for value in header_values(headers, "link"):
        for target, params in parse_link_header(value):
            if _rels(params.get("rel")) & WEBMENTION_RELS:
                endpoint = resolve(url, target)
                if endpoint:
                    return endpoint
    return None


def webmention_from_html(url: str, tree: etree._Element | None) -> str | None:
    """The first ``<link>`` or ``<a>`` with ``rel="webmention"`` and an ``href``, resolved.

    An element without ``href`` is skipped (webmention.rocks test 20); one with an empty
    ``href`` names the page itself (test 15). Comments are not elements, so an endpoint
    commented out is never found (test 13).
    """
    if tree is None:
        return None
    for element in tree.iter("link", "a"):
        href = element.get("href")
        if href is None or not (_rels(element.get("rel")) & WEBMENTION_RELS):
            continue
        endpoint = resolve(url, href)
        if endpoint:
            return endpoint
    return None


def pingback_from_headers(url: str, headers: Headers) -> str | None:
    for value in header_values(headers, "x-pingback"):
        endpoint = resolve(url, value.strip())
        if endpoint:
            return endpoint
    return None


def pingback_from_html(url: str, tree: etree._Element | None) -> str | None:
    return _first_link(url, tree, "pingback")


def _first_link(url: str, tree: etree._Element | None, rel: str) -> str | None:
    """The first ``<link rel=…>`` of the page that resolves to an http(s) URL."""
    if tree is None:
        return None
    for element in tree.iter("link"):
        href = element.get("href")
        if href and rel in _rels(element.get("rel")):
            endpoint = resolve(url, href)
            if endpoint:
                return endpoint
    return None


def trackback_from_html(
    url: str, html: str, tree: etree._Element | None, *, page_urls: Iterable[str] = ()
) -> str | None:
    """The Trackback ping URL of the page at ``url`` from its RDF block(s).

    A page listing several entries carries one block each; the one whose
    ``dc:identifier`` (or ``rdf:about``) is this page wins. A page with a single block uses
    it. ``<link rel="trackback">`` is the fallback.
    """
    wanted = {u for u in (urls.normalize_url(x) for x in (url, *page_urls)) if u}
    candidates: list[tuple[str | None, str]] = []
    for block in _RDF_BLOCK.findall(html or "")[:MAX_RDF_BLOCKS]:
        candidates.extend(_rdf_descriptions(block))
    matching = [
        ping
        for about, ping in candidates
        if about is not None and urls.normalize_url(about) in wanted
    ]
    chosen = matching[0] if matching else (candidates[0][1] if len(candidates) == 1 else None)
    if chosen:
        endpoint = resolve(url, chosen)
        if endpoint:
            return endpoint
    return _first_link(url, tree, "trackback")


def _rdf_descriptions(block: str) -> list[tuple[str | None, str]]:
    """(identifier, ping URL) of every ``rdf:Description`` with a ping in an RDF block."""
    found: list[tuple[str | None, str]] = []
    try:
        root = parse_document(block.encode("utf-8"), max_depth=8, max_elements=200)
    except Fault:
        root = None
    if root is not None:
        for element in root.iter("{%s}Description" % RDF_NS):
            ping = element.get("{%s}ping" % TRACKBACK_NS)
            if ping:
                about = element.get("{%s}identifier" % DC_NS) or element.get("{%s}about" % RDF_NS)
                found.append((about, ping.strip()))
        return found
    # Hand-written blocks are often not well-formed XML (an unescaped & in a title):
    # read the attributes of each Description by pattern instead.
    for description in re.findall(r"<rdf:Description\b[^>]*>", block, re.IGNORECASE):
        attrs = {
            m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _ATTR.finditer(description)
        }
        ping = attrs.get("trackback:ping")
        if ping:
            about = attrs.get("dc:identifier") or attrs.get("rdf:about")
            found.append((_unescape(about) if about else None, _unescape(ping).strip()))
    return found


def _unescape(text: str) -> str:
    return html_module.unescape(text)


def discover(
    url: str, headers: Headers, html: str | None, *, requested_url: str | None = None
) -> Endpoints:
    """Every endpoint a fetched page advertises.

    :param url: the page's final URL, after redirects: relative endpoints resolve against it.
    :param headers: the final response's headers (a mapping or ``(name, value)`` pairs).
    :param html: the page's HTML, or ``None`` when it was not HTML.
    :param requested_url: the URL asked for, also accepted as a Trackback identifier.

    >>> discover("https://b.example/post", {"Link": "</wm>; rel=webmention"}, "").webmention
    'https://b.example/wm'
    """
    tree = parse_html(html) if html else None
    webmention = webmention_from_headers(url, headers) or webmention_from_html(url, tree)
    pingback = pingback_from_headers(url, headers) or pingback_from_html(url, tree)
    page_urls = [requested_url] if requested_url else []
    trackback = trackback_from_html(url, html or "", tree, page_urls=page_urls)
    return Endpoints(webmention, pingback, trackback)
