"""Small pure helpers over lxml trees shared by the extraction modules.

Everything here takes elements and strings and returns strings; nothing does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.etree

from . import urls

#: Elements whose text a reader never sees as prose.
SKIP_TAGS = frozenset({
    "script", "style", "noscript", "template", "nav", "form", "button", "select", "textarea",
    "svg", "iframe", "object", "embed", "head", "title", "meta", "link", "input", "canvas",
    "audio", "video", "math", "dialog",
})
#: Elements that break the line: their text never runs into their neighbours'.
BLOCK_TAGS = frozenset({
    "p", "div", "li", "ul", "ol", "br", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "td", "th",
    "blockquote", "section", "article", "header", "footer", "aside", "pre", "dd", "dt", "dl",
    "figure", "figcaption", "table", "hr", "main", "address", "details", "summary", "caption",
})
HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
#: Class names that themes use for text only screen readers get, or that is hidden.
HIDDEN_CLASSES = frozenset({
    "hidden", "screen-reader-text", "sr-only", "visually-hidden", "visuallyhidden",
    "screenreader", "hide", "d-none", "comment-respond", "comment-form", "share", "sharedaddy",
})

_LINK_TAGS = ("a", "area")


def xpath(expression: str) -> Any:
    """A compiled XPath for the extraction modules: without the EXSLT regular expressions,
    which lxml would otherwise register at every call."""
    return lxml.etree.XPath(expression, regexp=False)


def text(el: Any) -> str:
    """All the text inside an element (its tail excluded), as the tree has it."""
    return "".join(el.itertext())


def classes(el: Any) -> list[str]:
    """The class tokens of an element (empty list when it has none)."""
    value = el.get("class")
    return value.split() if value else []


def collapse(text: str) -> str:
    """Collapse runs of whitespace into one space (a run at either end too)."""
    # str.split() knows the same whitespace as the regex \s, and is several times faster.
    inner = " ".join(text.split())
    if not inner:
        return " " if text else ""
    if text[0].isspace():
        inner = " " + inner
    if text[-1].isspace():
        inner += " "
    return inner


def is_hidden(el: Any) -> bool:
    """True for elements a reader does not see: ``hidden``, ``aria-hidden``, ``display:none``,
    ``visibility:hidden``, or a class themes use for hidden text (:data:`HIDDEN_CLASSES`)."""
    return hides(el, el.keys())


def hides(el: Any, names: list[str]) -> bool:
    """:func:`is_hidden` for an element whose attribute names (``el.keys()``) are known: a
    reader of many elements asks only those that have attributes."""
    # The attributes' names first, values only where they can hide: this runs for every
    # element a blurb reads, and a link's long href need not be read.
    for name in names:
        if name == "class":
            value = el.get("class")
            if value and not HIDDEN_CLASSES.isdisjoint(value.split()):
                return True
        elif name == "style":
            value = el.get("style").lower()
            if "none" in value or "hidden" in value:
                compact = value.replace(" ", "")
                if "display:none" in compact or "visibility:hidden" in compact:
                    return True
        elif name == "hidden" or name == "aria-hidden" and el.get(name) == "true":
            return True
    return False


def visible_text(el: Any) -> str:
    """The collapsed visible text of an element (scripts, navigation, hidden parts left out)."""
    parts: list[str] = []
    _collect(el, parts, None, [], tail=False)
    return collapse("".join(parts)).strip()


def property_text(el: Any, images: bool = True) -> str:
    """The value of a microformats2 ``p-*`` property, as the parsing spec reads it.

    That is the element's ``textContent`` (``title`` of an ``abbr``, ``value`` of ``data``,
    ``alt`` of an image), whitespace collapsed: text hidden with CSS counts, scripts and styles
    do not, a nested image is its ``alt``. Sites hide part of a name from readers for parsers
    (``Aaron<span style="display:none"> Parecki</span>``), so the visible text would cut it;
    the element's tail is never part of it. Example: the ``span`` in
    ``<span class="p-name">Ann<span hidden> Lee</span></span>, editor`` gives ``"Ann Lee"``.

    :param images: count nested images' ``alt`` (the spec does; an avatar's "User Avatar"
        is no name, so a caller may rather fall back to something else).
    """
    tag = el.tag
    if tag in ("abbr", "link") and el.get("title"):
        return collapse(el.get("title")).strip()
    if tag in ("data", "input", "meter") and el.get("value") is not None:
        return collapse(el.get("value")).strip()
    if tag in ("img", "area") and el.get("alt") is not None:
        return collapse(el.get("alt")).strip() if images else ""
    parts: list[str] = []
    _text_content(el, parts, images)
    return collapse("".join(parts)).strip()


def _text_content(el: Any, parts: list[str], images: bool) -> None:
    if el.text:
        parts.append(el.text)
    for child in el:
        tag = child.tag
        if tag == "img":
            if images:
                parts.append(" %s " % (child.get("alt") or ""))
        elif isinstance(tag, str) and tag not in ("script", "style", "template"):
            _text_content(child, parts, images)
        if child.tail:
            parts.append(child.tail)


def text_around(el: Any, link: Any) -> tuple[str, int, int]:
    """The raw visible text of ``el`` and where ``link``'s own text starts and ends in it.

    A link without text (an image link) is given its image's ``alt`` or its ``title``.
    """
    parts: list[str] = []
    marks: list[int] = []
    _collect(el, parts, link, marks, tail=False)
    text = "".join(parts)
    if len(marks) < 2:
        return text, len(text), len(text)
    return text, marks[0], marks[1]


def _collect(el: Any, parts: list[str], link: Any, marks: list[int], tail: bool = True) -> None:
    tag = el.tag
    if isinstance(tag, str) and tag not in SKIP_TAGS and not is_hidden(el):
        block = tag in BLOCK_TAGS
        if block:
            parts.append(" ")
        if el is link:
            before = len(parts)
            marks.append(sum(map(len, parts)))
        if el.text:
            parts.append(el.text)
        for child in el:
            _collect(child, parts, link, marks)
        if el is link:
            if not "".join(parts[before:]).strip():
                label = el.get("aria-label") or el.get("title") or el.get("alt") or ""
                for image in el.iter("img"):
                    label = label or image.get("alt") or ""
                if label:
                    parts.append(label)
            marks.append(sum(map(len, parts)))
        if block:
            parts.append(" ")
    if tail and el.tail:
        parts.append(el.tail)


class Page:
    """A parsed page and the facts every extraction step asks of it, each found once.

    Walking a tree costs as much as a tenth of parsing it, so the elements the steps look
    up anywhere in the document (links, ``<base>``, ``<meta>``, ``<link>``, ``<title>``,
    ``<time>``, ``<script>``) are collected in a single walk, the first time one is asked
    for, and the head's ``<meta>`` values are read once. A caller needing only some of them
    names them (``tags``): the walk then creates fewer elements.

    :param tree: the document's root element.
    :param html: the text the tree was parsed from, when known. A class name absent from
        it is absent from the tree, so :meth:`mentions` lets whole-tree class searches be
        skipped with a substring test (a class written with character references is not
        seen; that only hides a page's own markup from it).
    :param tags: the elements the first walk collects (:data:`WALKED`, or none with
        :data:`QUICK`); any other tag asked for is looked up on its own, and :meth:`walked`
        walks again for all of :data:`WALKED`.

    Example::

        page = Page(parse_html(html), html)
        page.tagged("time"), page.meta("og:title"), page.mentions("h-card", "vcard")
    """

    #: The elements one walk collects.
    WALKED = ("a", "area", "base", "meta", "link", "title", "time", "script")
    #: A verification with title, blurb and permalink walks nothing ahead: it reads the links
    #: once (see ``extract.links_to``) and asks the rest of the head (:meth:`first`,
    #: :meth:`meta`).
    QUICK: tuple[str, ...] = ()
    #: The ``<meta>`` names a verification with title, blurb and permalink asks for.
    QUICK_METAS = frozenset({"http-equiv:status", "og:url", "og:title", "twitter:title", "og:site_name",
                             "application-name"})

    def __init__(self, tree: Any, html: str | None = None, tags: tuple[str, ...] = WALKED) -> None:
        self.tree = tree
        self.html = html
        self._walked: list[Any] | None = None
        self._walk_tags = tags
        self._tags: dict[str, list[Any]] = {}
        self._metas: dict[str, str] | None = None
        self._meta_names: frozenset[str] | None = None  # the names _metas holds, when not all
        #: Results other modules compute once per page (cards, the main entry, ...).
        self.cache: dict[str, Any] = {}

    def walked(self) -> list[Any]:
        """Every element of :data:`WALKED` in document order."""
        if self._walked is None or self._walk_tags != self.WALKED:
            self._walk_tags = self.WALKED
            self._walk()
        return self._walked  # type: ignore[return-value]

    def tagged(self, tag: str) -> list[Any]:
        """The elements named ``tag`` in document order; ``"links"`` is ``a`` and ``area`` together."""
        if self._walked is None:
            self._walk()
        found = self._tags.get(tag)
        if found is None:
            found = self._tags[tag] = list(self.tree.iter(*(_LINK_TAGS if tag == "links" else (tag,))))
        return found

    def first(self, tag: str) -> Any | None:
        """The first element named ``tag``, found without a walk of the whole page when the
        walk did not collect it and the head holds one (a ``<title>``)."""
        found = self._tags.get(tag)
        if found is not None:
            return found[0] if found else None
        # lxml's iterators find the next match ahead of time: next() on a search of the page
        # for a <title> would search all the rest for another. The head, when it comes first
        # (it holds what precedes the body), is searched alone.
        tree = self.tree
        top = tree[0] if len(tree) else None
        if top is not None and top.tag == "head":
            found = next(top.iter(tag), None)
            if found is not None:
                return found
        return next(tree.iter(tag), None)

    def _walk(self) -> None:
        names = self._walk_tags
        walked = list(self.tree.iter(*names)) if names else []
        tags = _by_tag(walked, names)
        if "a" in tags:
            # <area> is rare: the links are then the <a> elements.
            tags["links"] = [el for el in walked if el.tag in _LINK_TAGS] if tags.get("area") else tags["a"]
        self._tags = tags
        self._walked = walked

    def mentions(self, *words: str) -> bool:
        """False only when the page's text is known and contains none of ``words``."""
        html = self.html
        if html is None:
            return True
        for word in words:
            if word in html:
                return True
        return False

    def meta(self, *names: str) -> str | None:
        """Like :func:`meta_content`, from ``<meta>`` values read once.

        A :data:`QUICK` page reads only the names of :data:`QUICK_METAS` until another is
        asked for.
        """
        metas = self._metas
        if metas is None or self._meta_names is not None and not self._meta_names.issuperset(names):
            self._meta_names = self.QUICK_METAS if self._walk_tags == self.QUICK and self.QUICK_METAS.issuperset(names) else None
            metas = self._metas = _metas(self.tree, self._meta_names)
        for name in names:
            if name in metas:
                return metas[name]
        return None


def _by_tag(elements: list[Any], names: tuple[str, ...]) -> dict[str, list[Any]]:
    tags: dict[str, list[Any]] = {name: [] for name in names}
    for el in elements:
        tags[el.tag].append(el)
    return tags


def as_page(tree: Any) -> Page:
    """``tree`` itself when it is a :class:`Page`, else a new one around it."""
    return tree if isinstance(tree, Page) else Page(tree)


def head(tree: Any) -> Any | None:
    """The document's ``<head>``: the root's first child, where the parser puts it."""
    first = tree[0] if len(tree) else None
    if first is not None and first.tag == "head":
        return first
    return tree.find("head")


def _metas(tree: Any, wanted: frozenset[str] | None = None) -> dict[str, str]:
    """The first non-empty content of each ``<meta>`` name (the head's, when there is one);
    a pragma (``<meta http-equiv>``) is named ``http-equiv:`` and its lower-cased name.

    :param wanted: read only these names' contents (all, by default).
    """
    top = head(tree)
    found: dict[str, str] = {}
    for meta in (top if top is not None else tree).iter("meta"):
        get = meta.get
        key = get("property") or get("name") or get("itemprop")
        key = key.strip().lower() if key else ""
        if not key:
            equiv = get("http-equiv")
            key = "http-equiv:" + equiv.strip().lower() if equiv else ""
        if key and key not in found and (wanted is None or key in wanted):
            content = get("content")
            if content:
                # Printable text without double spaces has nothing to collapse.
                if not content.isprintable() or "  " in content:
                    content = collapse(content)
                content = content.strip()
                if content:
                    found[key] = content
    return found


#: An absolute http(s) link that :func:`urllib.parse.urljoin` gives back as it is: a host,
#: no whitespace, no ``;`` parameters or brackets (see :func:`resolve` for the empty query
#: and fragment).
_ABSOLUTE = re.compile(r"https?://[^\s/?#;\[\]]+(?:[/?#][^\s;\[\]]*)?")
_HOST = re.compile(r"https?://([A-Za-z0-9_.-]+)(?::[0-9]*)?(?:[/?#]|\Z)")


def resolve(base: str, href: str | None) -> str | None:
    """``href`` made absolute against ``base``; ``None`` unless it is http(s)."""
    if not href:
        return None
    href = href.strip()
    if not href or href.startswith(("#", "javascript:", "mailto:", "data:", "tel:")):
        return None
    if "?#" not in href and not href.endswith(("?", "#")):  # urljoin drops an empty query or fragment
        if _ABSOLUTE.fullmatch(href) is not None:
            return href  # what urljoin gives
        joined = _join_plain(base, href)
        if joined is not None:
            return joined
    try:
        absolute = urljoin(base, href)
    except ValueError:
        return None
    if not absolute.startswith(("http://", "https://")):
        return None
    return absolute


_PLAIN_BASE = re.compile(r"(https?://[^\s/?#;\[\]\\]+)(/[^\s?#;\[\]\\]*)?(?:[?#].*)?", re.S)
_PLAIN_REFERENCE = re.compile(r"[^\s;\[\]\\\x00-\x1f\x7f]+")


def _join_plain(base: str, href: str) -> str | None:
    """``urljoin(base, href)`` for a path reference (``/a/b``, ``b``, ``./b``) with nothing
    to resolve (no ``.`` or empty segment on either side), without parsing; ``None`` when
    ``href`` or ``base`` is not that plain."""
    if _PLAIN_REFERENCE.fullmatch(href) is None:
        return None
    if href.startswith("./"):
        href = href[2:]
        if href.startswith("/"):
            return None
    path = href.partition("#")[0].partition("?")[0]
    if not path or path[0] == "." or "/." in path or "//" in path or ":" in path.partition("/")[0]:
        return None
    plain = _PLAIN_BASE.fullmatch(base)
    if plain is None:
        return None
    origin, base_path = plain.groups()
    if path[0] == "/":
        return origin + href
    if base_path is None:
        return origin + "/" + href
    if "/." in base_path or "//" in base_path:
        return None
    return origin + base_path[: base_path.rfind("/") + 1] + href


def host(url: str) -> str:
    """The lower-cased host name of ``url`` (``""`` when it has none)."""
    simple = _HOST.match(url)
    if simple is not None:
        return simple.group(1).lower()
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def same_site(a: str, b: str) -> bool:
    """True when two URLs share a registrable domain (``blog.example.com`` ~ ``example.com``)."""
    ha, hb = host(a), host(b)
    if not ha or not hb:
        return False
    if ha == hb:
        return True
    return urls.registrable_domain(ha) == urls.registrable_domain(hb)


def link_key(url: str) -> str | None:
    """The loose comparison key of a URL: no scheme, no ``www.``, no trailing slash.

    ``http://www.example.com/a/`` and ``https://example.com/a`` are one page to a reader.
    """
    normalized = urls.normalize_url(url)
    if normalized is None:
        return None
    return normalized_key(normalized)


def normalized_key(normalized: str) -> str:
    """:func:`link_key` of a URL that :func:`urls.normalize_url` gave (normalising is
    idempotent, and costs most of :func:`link_key`)."""
    rest = normalized.split("://", 1)[1]
    if rest.startswith("www."):
        rest = rest[4:]
    path, sep, query = rest.partition("?")
    return path.rstrip("/") + sep + query


def ancestors(el: Any) -> Iterator[Any]:
    """``el``'s ancestors, nearest first."""
    return el.iterancestors()  # lxml's own iterator: no Python frame per step


def meta_content(tree: Any, *names: str) -> str | None:
    """The first non-empty ``<meta name|property=...>`` content among ``names`` (in that order)."""
    found = _metas(tree)
    for name in names:
        if name in found:
            return found[name]
    return None


def link_rel(tree: Any, rel: str) -> list[str]:
    """The ``href`` of every ``<link>`` and ``<a>`` whose ``rel`` contains ``rel``, in order."""
    hrefs = []
    for el in tree.iter("link", "a"):
        value = el.get("rel")
        if value:
            value = value.lower()
            if rel in value and rel in value.split():
                href = el.get("href")
                if href:
                    hrefs.append(href)
    return hrefs
