"""The blurb: about 250 characters of the visible text around a link, cut at words.

A reader wants to see what the linking page says about us, so the blurb is the text the
link sits in. When the link is in an entry's content (``e-content``, ``entry-content``, a
post body, or the paragraphs of an ``<article>`` around its title and byline), the blurb is
taken from that content only: the entry's title is shown separately, and its byline and
date would crowd out the sentence that links. Only when the content is too short to say
anything (a bookmark's "via" line) does the blurb grow into the whole entry.

Elsewhere (a sidebar, a comment, a plain page), the blurb grows from the link's own block
(paragraph, list item, cell) into its ancestors until they hold enough text, never past the
``boundary`` it is given, nor out of a sectioning element (``<section>``, ``<aside>``,
``<article>``, ``<main>``) or the page's own header and footer: the text beyond is about
something else (a blogroll's neighbour is the post, not a word about the blogroll's links).

Text is read from the link outwards and only as far as the blurb needs, so a blurb costs the
same in a paragraph and in a whole page::

    >>> make_blurb(link, entry)                                     # doctest: +SKIP
    ('…after reading Hello, linkback, which explains how…', 15, 30)
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from . import dom

#: Characters of text a blurb holds, about.
BLURB_LENGTH = 250
#: Class tokens of the element holding an entry's content (microformats, WordPress and other
#: themes); ``itemprop=articleBody`` (schema.org) counts too.
CONTENT_CLASSES = frozenset({
    "e-content", "entry-content", "post-content", "post-body", "article-body", "article-content",
    "entry-body", "blog-post-body", "post-entry", "postcontent", "entry-text", "post-text",
    "e-summary", "p-summary", "entry-summary", "post-summary", "post-excerpt", "entry-excerpt",
})
_CONTENT_PROPS = frozenset({"articleBody", "reviewBody", "text"})
#: Class tokens of an entry's furniture: its title, byline, date, tags, share buttons.
FURNITURE_CLASSES = frozenset({
    "p-name", "entry-title", "post-title", "entry-header", "post-header", "entry-meta",
    "post-meta", "meta", "byline", "p-author", "author", "h-card", "vcard", "posted-on",
    "entry-date", "post-date", "dt-published", "dt-updated", "published", "updated",
    "entry-footer", "post-footer", "entry-utility", "post-info", "entry-info", "tags",
    "tags-links", "cat-links", "post-categories", "p-category",
})
#: Elements a blurb may grow into when the link's own block is short.
_CONTAINERS = frozenset({"p", "li", "dd", "blockquote", "td", "figcaption", "div", "section",
                         "article", "main", "body", "header", "footer", "aside", "span", "dt",
                         "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "tr", "ul", "ol", "dl"})
#: Elements a blurb never grows out of: the page's body and its sectioning elements (a
#: sidebar, a section of links, a comment), whose neighbours are about something else.
_SECTIONS = frozenset({"body", "section", "aside", "article", "nav", "main"})
#: So are the page's own header and footer (not an entry's, whose neighbour is its text).
_LANDMARKS = frozenset({"header", "footer"})
_TEXT_LENGTH = dom.xpath("string-length(normalize-space(.))")
# Candidates for furniture, found in C; the class tokens are checked in Python.
_MAYBE_FURNITURE = dom.xpath(
    ".//header | .//footer | .//@class[contains(., 'name') or contains(., 'title')"
    " or contains(., 'meta') or contains(., 'author') or contains(., 'card') or contains(., 'byline')"
    " or contains(., 'date') or contains(., 'posted') or contains(., 'published')"
    " or contains(., 'updated') or contains(., 'footer') or contains(., 'header') or contains(., 'info')"
    " or contains(., 'tags') or contains(., 'cat')]/.."
)
#: The words _MAYBE_FURNITURE looks for in a class attribute.
_FURNITURE_WORDS = ("name", "title", "meta", "author", "card", "byline", "date", "posted", "published",
                    "updated", "footer", "header", "info", "tags", "cat")
_NOTHING: frozenset[Any] = frozenset()
#: Phrasing elements: a byline class on one of these (a date, a tag, an author's name) is
#: part of a sentence, or of a byline block that goes as a whole.
_INLINE = frozenset({"a", "span", "time", "abbr", "data", "em", "strong", "b", "i", "small", "cite",
                     "code", "img", "sup", "sub", "mark", "u", "s", "q", "label", "font"})


def make_blurb(link: Any, boundary: Any = None, length: int = BLURB_LENGTH) -> tuple[str, int, int]:
    """About ``length`` characters of visible text around ``link``, cut at words.

    :param boundary: never take text from outside this element (the entry, for example).
    :return: ``(blurb, start, end)``; ``blurb[start:end]`` is the link's own text.
    """
    content = entry_content(link, boundary)
    if content is not None:
        scope, furniture = content
        text, start, end = _grow(link, scope, length, furniture)
        if len(" ".join(text.split())) >= length // 3:
            return window(text, start, end, length)
    return window(*_grow(link, boundary, length), length)


def entry_content(link: Any, entry: Any = None) -> tuple[Any, Collection[Any]] | None:
    """Where ``link`` sits in its entry's content: ``(scope, furniture)``, or ``None``.

    ``scope`` is the nearest content element around the link (``e-content``,
    ``entry-content``, ``itemprop=articleBody`` …) inside ``entry``; without one, when the
    link is in a paragraph (or a quotation) of the entry, the entry itself. ``furniture``
    are the scope's header, footer and byline (and, for a whole entry, its title), which a
    blurb leaves out. ``None`` when the link is not in an entry's content: in no entry and
    no content element, in the entry's title or byline, or among its other parts.
    """
    prose = False
    scope = None
    for el in dom.ancestors(link):
        if el.tag in ("body", "html"):
            break
        value = el.get("class")
        if value and not CONTENT_CLASSES.isdisjoint(value.split()) or el.get("itemprop") in _CONTENT_PROPS:
            scope = el
            break
        prose = prose or el.tag in ("p", "blockquote")
        if el is entry:
            if prose:
                scope = el
            break
    if scope is None:
        return None
    furniture = Furniture(scope, titled=scope is entry)
    for el in dom.ancestors(link):
        if el is scope:
            return scope, furniture
        if el in furniture:
            return None  # the link is in the title or the byline
    return None


def _furniture(scope: Any, titled: bool) -> set[Any]:
    """The header, footer and byline elements in ``scope`` (see :data:`FURNITURE_CLASSES`);
    with ``titled`` (``scope`` is a whole entry), its title too."""
    found: set[Any] = set()
    for el in _MAYBE_FURNITURE(scope):
        if el is scope:
            continue
        if el.tag in ("header", "footer"):
            found.add(el)
            continue
        value = el.get("class")
        if (value and el.tag not in _INLINE and not FURNITURE_CLASSES.isdisjoint(value.split())
                and "e-content" not in value):
            found.add(el)
    if titled and not any(el.tag in dom.HEADINGS or el.tag == "header" for el in found):
        # No title marked up: the entry's first heading is its title.
        for heading in scope.iter(*dom.HEADINGS):
            found.add(heading)
            break
    return found


class Furniture(Collection[Any]):
    """The furniture of ``scope`` (see :func:`_furniture`), each element checked only when asked.

    A blurb reads a few dozen elements near the link; searching the whole scope for its
    header, footer and byline costs more than reading them, so membership is decided per
    element (and remembered) by the same rules. Iterating gives the full set.
    """

    def __init__(self, scope: Any, titled: bool) -> None:
        self.scope = scope
        self.titled = titled
        self._known: dict[Any, bool] = {}
        self._title: list[Any] = []  # [the implicit title heading, or None], once looked for
        self._all: set[Any] | None = None

    def __contains__(self, el: object) -> bool:
        if self._all is not None:
            return el in self._all
        found = self._known.get(el)
        if found is None:
            found = self._known[el] = self._marked(el) or (
                self.titled and getattr(el, "tag", None) in dom.HEADINGS and el is self._implicit_title()
            )
        return found

    def __iter__(self) -> Iterator[Any]:
        if self._all is None:
            self._all = _furniture(self.scope, self.titled)
        return iter(self._all)

    def __len__(self) -> int:
        return len(set(self))

    def _marked(self, el: Any) -> bool:
        """True for a header, footer or byline inside the scope (what _MAYBE_FURNITURE finds
        and :func:`_furniture` keeps)."""
        if el is self.scope:
            return False
        tag = el.tag
        if tag in ("header", "footer"):
            return True
        value = el.get("class")
        return bool(value and tag not in _INLINE and "e-content" not in value
                    and any(word in value for word in _FURNITURE_WORDS)
                    and not FURNITURE_CLASSES.isdisjoint(value.split()))

    def _implicit_title(self) -> Any:
        """The scope's first heading, when no header or heading is marked as its title."""
        if not self._title:
            title = None
            for el in self.scope.iter("header", *dom.HEADINGS):
                if self._marked(el):
                    break
            else:
                title = next(self.scope.iter(*dom.HEADINGS), None)
            self._title.append(title)
        return self._title[0]


def _grow(link: Any, boundary: Any, length: int, skip: Collection[Any] = _NOTHING) -> tuple[str, int, int]:
    """The text of the smallest block around ``link`` (up to ``boundary``) that holds enough."""
    block = link
    text, start, end = "", 0, 0
    big = False  # a block holds enough text, so its ancestors do too
    for _ in range(6):
        parent = block.getparent()
        if parent is None:
            break
        block = parent
        if block.tag not in _CONTAINERS and block is not boundary:
            continue
        # Measure in C first; collect the visible text (in Python) only for the block used.
        tag = block.tag
        last = block is boundary or tag in _SECTIONS or tag in _LANDMARKS and _is_landmark(block)
        if not last and not big:
            if _TEXT_LENGTH(block) < length * 1.5:
                continue
            big = True
        text, start, end = text_near(block, link, length, skip)
        if len(dom.collapse(text)) >= length or last:
            break
    if not text:
        text, start, end = dom.text_around(link, link)
    return text, start, end


def _is_landmark(el: Any) -> bool:
    """True for a header or footer of the whole page: outside any sectioning element (how
    HTML-AAM tells a page's banner and content information from an article's header)."""
    return all(parent.tag not in _SECTIONS or parent.tag == "body" for parent in el.iterancestors())


def window(text: str, start: int, end: int, length: int = BLURB_LENGTH) -> tuple[str, int, int]:
    """Collapse whitespace and cut ``text`` to about ``length`` around ``text[start:end]``."""
    raw_inside = dom.collapse(text[start:end])
    before = dom.collapse(text[:start]).lstrip()
    after = dom.collapse(text[end:]).rstrip()
    inside = raw_inside.strip()
    if raw_inside.startswith(" ") and before and not before.endswith(" "):
        before += " "
    if raw_inside.endswith(" ") and after and not after.startswith(" "):
        after = " " + after
    if not inside:
        before = before.rstrip() + (" " if before.strip() and after.strip() else "")
        after = after.lstrip()
    if len(inside) >= length:
        cut = inside[:length].rsplit(" ", 1)[0]
        inside = cut + "…"
        return inside, 0, len(inside)
    if len(before) + len(inside) + len(after) <= length:
        return before + inside + after, len(before), len(before) + len(inside)
    budget = length - len(inside)
    left = budget // 2
    right = budget - left
    if len(before) < left:
        right += left - len(before)
        left = len(before)
    elif len(after) < right:
        left += right - len(after)
        right = len(after)
    if len(before) > left:
        piece = before[len(before) - left:]
        space = piece.find(" ")
        piece = piece[space + 1:] if 0 <= space < len(piece) - 1 else ""
        before = "…" + piece if piece.strip() else "…"
    if len(after) > right:
        piece = after[:right]
        space = piece.rfind(" ")
        piece = piece[:space] if space > 0 else ""
        after = piece.rstrip(" ,;:") + "…" if piece.strip() else "…"
    return before + inside + after, len(before), len(before) + len(inside)


# --- reading text outwards from the link ---------------------------------------------------------


def text_near(el: Any, link: Any, length: int, skip: Collection[Any] = _NOTHING) -> tuple[str, int, int]:
    """Like :func:`dom.text_around`, with only the text a ``length``-character window needs.

    The text of ``el`` is read outwards from the link, about ``length / 2`` characters (once
    whitespace is collapsed) each side, more on one side when the other is short.

    :param skip: elements whose text is left out (an entry's title and byline).
    """
    if el is link:
        return dom.text_around(el, link)
    visible = link.tag not in _SKIP_TAGS and not dom.is_hidden(link)
    for parent in dom.ancestors(link):
        if not visible or parent is el:
            break
        names = parent.keys()
        visible = (parent.tag not in _SKIP_TAGS and not (names and _hides(parent, names))
                   and (skip is _NOTHING or parent not in skip))
    else:
        visible = False  # not inside el
    margin = 8  # the window's cuts and joins move a side by a character or two
    if not visible or el.tag in dom.SKIP_TAGS or dom.is_hidden(el):
        # The link's text is not shown: what precedes it is all of el's text (text_around).
        parts: list[str] = []
        _backward(el, parts, [length + margin + 2, length + margin], skip)
        text = "".join(reversed(parts))
        return text, len(text), len(text)
    own, own_start, own_end = dom.text_around(link, link)
    need = max(length - len(" ".join(own.split())), 0)
    half = need // 2 + margin
    head = _before(link, el, half, skip)
    if len(" ".join(head.split())) <= half:  # all of it, and short: the window takes more after
        tail = _after(link, el, need + margin, skip)
    else:
        tail = _after(link, el, half, skip)
        if len(" ".join(tail.split())) <= half:
            head = _before(link, el, need + margin, skip)
    return head + own + tail, len(head) + own_start, len(head) + own_end


def _before(link: Any, top: Any, reach: int, skip: Collection[Any]) -> str:
    """The visible text before ``link`` in ``top``, read until it holds more than ``reach``
    characters once whitespace is collapsed (or all there is).

    The text is read once: the readers' running count only overestimates the collapsed
    length, so the exact length is taken when the count runs out, and reading goes on from
    there when it falls short (see :func:`_take`).
    """
    parts: list[str] = []
    _preceding(link, top, parts, [reach + 2, reach], skip)
    return "".join(reversed(parts))


def _after(link: Any, top: Any, reach: int, skip: Collection[Any]) -> str:
    """The visible text after ``link`` in ``top``, as :func:`_before` reads it."""
    parts: list[str] = []
    _following(link, top, parts, [reach + 2, reach], skip)
    return "".join(parts)


def _take(parts: list[str], piece: str, left: list[int]) -> bool:
    """Add ``piece``; True when the text in ``parts`` holds more than ``left[1]`` characters
    once whitespace is collapsed. ``left[0]`` counts down an overestimate of that length
    (pieces stripped, each with a space), so the text is measured only now and then.

    The readers below do the first steps inline (most pieces are whitespace between tags)
    and call :func:`_full` when the count runs out.
    """
    parts.append(piece)
    if not piece.isspace():
        left[0] -= len(piece.strip()) + 1
        if left[0] <= 0:
            return _full(parts, left)
    return False


def _full(parts: list[str], left: list[int]) -> bool:
    """Measure the text exactly (the overestimate ran out): True when it holds enough, else
    the count starts again from what is missing."""
    # Collapsing gives the same length whichever way round the pieces are joined.
    exact = len(" ".join("".join(parts).split()))
    if exact > left[1]:
        return True
    left[0] = left[1] + 2 - exact
    return False


def _preceding(link: Any, top: Any, parts: list[str], left: list[int], skip: Collection[Any]) -> bool:
    """The visible text before ``link`` inside ``top``, nearest piece first; True when cut."""
    node = link
    while node is not top:
        for sibling in node.itersiblings(preceding=True):
            if sibling.tail and _take(parts, sibling.tail, left):
                return True
            if _backward(sibling, parts, left, skip):
                return True
        parent = node.getparent()
        if parent.text and _take(parts, parent.text, left):
            return True
        if parent.tag in _BLOCK_TAGS:
            parts.append(" ")
        node = parent
    return False


def _following(link: Any, top: Any, parts: list[str], left: list[int], skip: Collection[Any]) -> bool:
    """The visible text after ``link`` inside ``top``, in order; True when cut."""
    node = link
    while node is not top:
        if node.tail and _take(parts, node.tail, left):
            return True
        for sibling in node.itersiblings():
            if _forward(sibling, parts, left, skip):
                return True
            if sibling.tail and _take(parts, sibling.tail, left):
                return True
        node = node.getparent()
        if node.tag in _BLOCK_TAGS:
            parts.append(" ")
    return False


_SKIP_TAGS = dom.SKIP_TAGS
_BLOCK_TAGS = dom.BLOCK_TAGS
_hides = dom.hides


def _forward(el: Any, parts: list[str], left: list[int], skip: Collection[Any]) -> bool:
    tag = el.tag
    # Shown at all? (This runs for every element a blurb reads; _take is inlined.)
    if tag.__class__ is not str or tag in _SKIP_TAGS or skip is not _NOTHING and el in skip:
        return False
    names = el.keys()
    if names and _hides(el, names):
        return False
    block = tag in _BLOCK_TAGS
    if block:
        parts.append(" ")
    text = el.text
    if text:
        parts.append(text)
        if not text.isspace():
            left[0] -= len(text.strip()) + 1
            if left[0] <= 0 and _full(parts, left):
                return True
    if len(el):
        for child in el:
            if _forward(child, parts, left, skip):
                return True
            text = child.tail
            if text:
                parts.append(text)
                if not text.isspace():
                    left[0] -= len(text.strip()) + 1
                    if left[0] <= 0 and _full(parts, left):
                        return True
    if block:
        parts.append(" ")
    return False


def _backward(el: Any, parts: list[str], left: list[int], skip: Collection[Any]) -> bool:
    tag = el.tag
    if tag.__class__ is not str or tag in _SKIP_TAGS or skip is not _NOTHING and el in skip:
        return False
    names = el.keys()
    if names and _hides(el, names):
        return False
    block = tag in _BLOCK_TAGS
    if block:
        parts.append(" ")
    if len(el):
        for child in el.iterchildren(reversed=True):
            text = child.tail
            if text:
                parts.append(text)
                if not text.isspace():
                    left[0] -= len(text.strip()) + 1
                    if left[0] <= 0 and _full(parts, left):
                        return True
            if _backward(child, parts, left, skip):
                return True
    text = el.text
    if text:
        parts.append(text)
        if not text.isspace():
            left[0] -= len(text.strip()) + 1
            if left[0] <= 0 and _full(parts, left):
                return True
    if block:
        parts.append(" ")
    return False
