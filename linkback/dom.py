"""Small pure helpers over lxml trees shared by the extraction modules.

Everything here takes elements and strings and returns strings; nothing does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

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

_SPACE = re.compile(r"\s+")


def text(el: Any) -> str:
    """All the text inside an element (its tail excluded), as the tree has it."""
    return "".join(el.itertext())


def classes(el: Any) -> list[str]:
    """The class tokens of an element (empty list when it has none)."""
    value = el.get("class")
    return value.split() if value else []


def collapse(text: str) -> str:
    """Collapse runs of whitespace into one space."""
    return _SPACE.sub(" ", text)


def is_hidden(el: Any) -> bool:
    """True for elements a reader does not see: ``hidden``, ``aria-hidden``, ``display:none``."""
    if el.get("hidden") is not None or el.get("aria-hidden") == "true":
        return True
    style = el.get("style")
    if style and "none" in style:
        compact = style.replace(" ", "").lower()
        if "display:none" in compact or "visibility:hidden" in compact:
            return True
    value = el.get("class")
    if value and not HIDDEN_CLASSES.isdisjoint(value.split()):
        return True
    return False


def visible_text(el: Any) -> str:
    """The collapsed visible text of an element (scripts, navigation, hidden parts left out)."""
    parts: list[str] = []
    _collect(el, parts, None, [], tail=False)
    return collapse("".join(parts)).strip()


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


def resolve(base: str, href: str | None) -> str | None:
    """``href`` made absolute against ``base``; ``None`` unless it is http(s)."""
    if not href:
        return None
    href = href.strip()
    if not href or href.startswith(("#", "javascript:", "mailto:", "data:", "tel:")):
        return None
    try:
        absolute = urljoin(base, href)
    except ValueError:
        return None
    if not absolute.startswith(("http://", "https://")):
        return None
    return absolute


def host(url: str) -> str:
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
    rest = normalized.split("://", 1)[1]
    if rest.startswith("www."):
        rest = rest[4:]
    path, sep, query = rest.partition("?")
    return path.rstrip("/") + sep + query


def ancestors(el: Any) -> Iterator[Any]:
    """``el``'s ancestors, nearest first."""
    parent = el.getparent()
    while parent is not None:
        yield parent
        parent = parent.getparent()


def meta_content(tree: Any, *names: str) -> str | None:
    """The first non-empty ``<meta name|property=...>`` content among ``names`` (in that order)."""
    head = tree.find("head")
    found: dict[str, str] = {}
    scope = head if head is not None else tree
    for meta in scope.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").strip().lower()
        if key in names and key not in found:
            content = collapse(meta.get("content") or "").strip()
            if content:
                found[key] = content
    for name in names:
        if name in found:
            return found[name]
    return None


def link_rel(tree: Any, rel: str) -> list[str]:
    """The ``href`` of every ``<link>`` and ``<a>`` whose ``rel`` contains ``rel``, in order."""
    hrefs = []
    for el in tree.iter("link", "a"):
        value = el.get("rel")
        if value and rel in value.lower().split() and el.get("href"):
            hrefs.append(el.get("href"))
    return hrefs
