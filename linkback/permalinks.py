"""Entries and their permalinks on listing pages (front pages, categories, tags, archives).

A visitor who clicks through from a blog's front page sends the front page as Referer, but
the mention lives in one entry, and the entry leaves the front page within days. Finding
the entry that contains the link, and that entry's own URL, keys the linkback on something
that lasts. The rules, strongest first:

* the entry: the nearest microformats2 ``h-entry`` (or classic ``hentry``) or ``<article>``
  around the link; else the nearest element themes use for posts (``post``, ``type-post``,
  ``blog-post``, ``entry`` …); else the nearest of a run of like siblings (``<li>`` items,
  repeated ``<div>``) that carries a link of its own, as plain themes and link lists do;
* its permalink: ``u-url``/``u-uid``, ``rel=bookmark``, the link in the entry's heading, a
  link around a ``<time>`` or named "permalink", "read more"/"comments" links, date-shaped
  paths; always on the page's own site (registrable domain), since a permalink elsewhere
  would let a page claim another site's URL as its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

from . import dom, urls

#: Class tokens that mark an entry for sure.
STRONG_ENTRY_CLASSES = frozenset({"h-entry", "hentry", "h-as-article", "h-as-note", "xfolkentry"})
#: Class tokens themes give posts.
ENTRY_CLASSES = frozenset({
    "post", "type-post", "blog-post", "entry", "post-entry", "post-card", "post-item",
    "post-preview", "post-summary", "blog-entry", "postbox", "blogpost", "article-item",
    "post-outer", "list-post", "story", "status-publish", "format-standard", "teaser",
    "node-article", "node--type-article", "post-excerpt", "entry-summary-wrapper",
})
#: Class tokens of comments: a comment is never the entry a listing is about.
COMMENT_CLASSES = frozenset({"comment", "u-comment", "p-comment", "h-cite", "comments",
                             "comment-body", "commentlist", "comment-list", "reply"})
#: Paths that list posts rather than being one.
_LISTING_PATH = re.compile(
    r"/(?:category|categories|tag|tags|author|authors|page|archive|archives|feed|search|topics?|label|"
    r"wp-login|wp-admin|login|comments/feed|rss|atom)(?:/|\.|$)",
    re.I,
)
#: Paths of files (an upload's date-shaped path is no post's): media, documents, archives.
_FILE_PATH = re.compile(
    r"(?:^|/)wp-content/|\.(?:jpe?g|png|gif|webp|avif|svg|ico|bmp|tiff?|pdf|docx?|xlsx?|pptx?|odt|zip|gz|"
    r"tar|7z|rar|mp3|m4a|ogg|wav|flac|mp4|m4v|webm|mov|avi|css|js|json|xml|txt|csv)(?:[?#]|$)",
    re.I,
)
_DATE_PATH = re.compile(r"/(?:19|20)\d\d[/-](?:0?[1-9]|1[0-2])(?:[/-]|$)")
_MORE = re.compile(
    r"^(?:permalink|link|read more|more|continue reading|continue|read the rest|read full|full post|"
    r"read on|lire la suite|weiterlesen|mehr|leer más|∞|#|¶|§|→|»|comments?|\d+ comments?|leave a comment)\b",
    re.I,
)
#: The characters a text that _MORE matches can start with (it ignores case; digits aside).
_MORE_FIRST = frozenset("pPlLrRmMcCfFwW∞#¶§→»")
_PERMALINK_CLASSES = frozenset({"u-url", "u-uid", "permalink", "bookmark", "post-link",
                                "entry-link", "post-title", "entry-title", "readmore", "more-link",
                                "read-more", "title", "u-permalink"})

# Elements that may be entries by their class (the class tokens are checked in Python: the
# token test in XPath costs more than the whole rest of a search).
_MAYBE_ENTRIES = dom.xpath("/descendant::*/@class[contains(., 'entry') or contains(., 'post')]/..")
_LISTED_CLASSES = frozenset({"h-entry", "hentry", "post", "type-post", "xfolkentry"})
#: Class tokens of objects nested in an entry whose links are not the entry's (see _NestedObjects).
_NESTED_CLASSES = frozenset({"h-card", "h-cite", "p-author", "u-author", "vcard", "author"}) | COMMENT_CLASSES
_POST_ID = re.compile(r"post-\d+$")


def _has_class(el: Any, *names: str) -> bool:
    value = el.get("class")
    return bool(value) and any(n in value for n in names) and any(n in value.split() for n in names)


def _is_comment(el: Any) -> bool:
    tokens = dom.classes(el)
    if tokens and not COMMENT_CLASSES.isdisjoint(tokens):
        return True
    ident = el.get("id") or ""
    return ident.startswith(_COMMENT_IDS)


_COMMENT_IDS = ("comment-", "div-comment-", "li-comment-")


def _entry_strength(el: Any) -> int:
    """2 for a sure entry, 1 for a theme's post element, 0 otherwise."""
    if el.tag == "article":
        return 2
    tokens = dom.classes(el)
    if not tokens:
        return 0
    if not STRONG_ENTRY_CLASSES.isdisjoint(tokens):
        return 2
    if not ENTRY_CLASSES.isdisjoint(tokens):
        return 1
    ident = el.get("id")
    if ident and _POST_ID.match(ident):
        return 1
    return 0


def find_entry(link: Any) -> Any | None:
    """The entry (post) element that contains ``link``, or ``None``.

    Comments (and entries nested in them) are skipped: a link in a reader's comment belongs
    to the post the comment is on.
    """
    weak = None
    in_comment = False
    for el in dom.ancestors(link):
        tag = el.tag
        if tag == "body" or tag == "html":
            break
        # _is_comment and _entry_strength in one read of the element's attributes.
        value = el.get("class")
        tokens = value.split() if value else None
        ident = el.get("id")
        if tokens and not COMMENT_CLASSES.isdisjoint(tokens) or ident and ident.startswith(_COMMENT_IDS):
            in_comment = True
            weak = None
            continue
        if tag == "article":
            return el
        if not tokens:
            continue
        if not STRONG_ENTRY_CLASSES.isdisjoint(tokens):
            return el
        if weak is None and (not ENTRY_CLASSES.isdisjoint(tokens) or ident and _POST_ID.match(ident)):
            weak = el
    if weak is not None:
        return weak
    if in_comment:
        return None
    return _implicit_entry(link)


def _implicit_entry(link: Any) -> Any | None:
    """The nearest ancestor that is one of a run of like siblings and has a link of its own.

    Plain themes list posts as ``<li>`` items or repeated ``<div>``s with no class that
    says so; what gives them away is repetition and a same-site link in each.
    """
    href = link.get("href")
    for el in dom.ancestors(link):
        tag = el.tag
        if tag in _LIST_ENDS:
            break
        parent = el.getparent()
        if parent is None:
            break
        if tag in _REPEATED:
            if tag == "li":
                alike = 2 if next(islice(parent.iterchildren("li"), 1, None), None) is not None else 1
            else:
                first = _first_class(el)
                alike = 0
                for sib in parent.iterchildren(tag):  # counted up to 2: lists run long
                    if _first_class(sib) == first:
                        alike += 1
                        if alike >= 2:
                            break
            if alike >= 2:
                for a in el.iter("a"):
                    other = a.get("href")
                    if other and other != href:
                        return el
    return None


_LIST_ENDS = frozenset({"body", "html", "ul", "ol", "table", "tbody"})
_REPEATED = frozenset({"li", "div", "section", "tr", "dd"})


def _first_class(el: Any) -> str | None:
    value = el.get("class")
    if not value:
        return None
    tokens = value.split(None, 1)
    return tokens[0] if tokens else None


def is_listing(tree: Any, entry: Any | None) -> bool:
    """True when the page shows several entries (so an entry's permalink is not the page).

    A listing that shows a single entry (a tag with one post) is told apart by the entry's
    own permalink pointing elsewhere: see :func:`find_permalink`.
    """
    if entry is None:
        return False
    strength = _entry_strength(entry)
    if strength == 0:
        return True  # an implicit entry is found only among repeated siblings
    if strength == 2:
        def listed(el: Any) -> bool:
            return el.tag == "article" or bool(el.get("class")) and _has_class(el, *_LISTED_CLASSES)
    else:
        def listed(el: Any) -> bool:
            return el.tag == entry.tag and _entry_strength(el) >= 1
    # The entry's siblings first: a listing's entries usually stand side by side, and a
    # search of the whole page costs a good part of the extraction.
    parent = entry.getparent()
    if parent is not None and _count_entries(filter(listed, parent)) >= 2:
        return True
    tree = dom.as_page(tree).tree
    if strength == 2:
        # <article>s first, found without XPath; a listing of articles needs no more.
        articles = _count_entries(tree.iter("article"))
        if articles >= 2:
            return True
        candidates = (el for el in _MAYBE_ENTRIES(tree) if el.tag != "article" and listed(el))
        return articles + _count_entries(candidates) >= 2
    return _count_entries(filter(listed, tree.iter(entry.tag))) >= 2


def _count_entries(candidates: Any) -> int:
    """How many of ``candidates`` are outside comments, counting up to 2."""
    count = 0
    for el in candidates:
        # Entries nested in other entries still count: libxml2 does not close an <article>
        # whose inner <div> was left open, so broken themes nest every post in the previous.
        if _is_comment(el) or any(_is_comment(p) for p in dom.ancestors(el)):
            continue
        count += 1
        if count >= 2:
            break
    return count


def entry_title(entry: Any) -> str | None:
    """The entry's own title: ``p-name``/``entry-title``, else its first heading."""
    # Read in order, so the search ends at the title, near the top of most entries. (An
    # XPath search of the class attributes costs more than this walk: it reads every one.)
    for el in entry.iter():
        value = el.get("class")
        if value and ("p-name" in value or "entry-title" in value or "post-title" in value):
            text = _class_title(el)
            if text:
                return text
    return _first_heading(entry)


def _class_title(el: Any) -> str | None:
    """The text of ``el`` when its class marks it as its entry's title (and it reads as one)."""
    value = el.get("class")
    if not value or not ("p-name" in value or "entry-title" in value or "post-title" in value):
        return None
    tokens = value.split()
    if "p-name" in tokens or "entry-title" in tokens or "post-title" in tokens:
        if el.tag in ("a", "span", "div", "p") and "e-content" in tokens:
            return None
        text = dom.visible_text(el)
        if text and len(text) <= 200:
            return text
    return None


def _first_heading(entry: Any) -> str | None:
    for heading in entry.iter(*dom.HEADINGS):
        text = dom.visible_text(heading)
        if text and len(text) <= 200:
            return text
    return None


def _ok(url: str | None, page_url: str, explicit: bool = False) -> str | None:
    """``url`` normalised, when it can be an entry's permalink on ``page_url``'s site.

    Paths that look like listings (``/tag/``, ``/page/2``) or files (an image, a PDF, a
    WordPress upload) are refused unless the markup says explicitly that the link is the
    entry's (``u-url``, ``rel=bookmark``).
    """
    if not url or not dom.same_site(url, page_url):
        return None
    normalized = urls.normalize_url(url)
    if normalized is None:
        return None
    path = normalized.split("/", 3)[3] if normalized.count("/") >= 3 else ""
    if not explicit and (not path or _LISTING_PATH.search("/" + path) or _FILE_PATH.search(path)):
        return None
    return normalized


class _NestedObjects:
    """Called with a link of ``entry``: True when it belongs to an h-card, h-cite, author or
    comment inside the entry. What is found of an element on the way up is kept: the links
    of one comment thread share their ancestors."""

    def __init__(self, entry: Any) -> None:
        self.known: dict[Any, bool] = {entry: False}

    def __call__(self, el: Any) -> bool:
        known = self.known
        chain = []
        parent = el.getparent()
        while parent is not None and parent not in known:
            chain.append(parent)
            parent = parent.getparent()
        nested = known.get(parent, False)
        for ancestor in reversed(chain):  # from the top down
            nested = nested or _entry_strength(ancestor) == 2 or not _NESTED_CLASSES.isdisjoint(dom.classes(ancestor))
            known[ancestor] = nested
        return nested


def find_permalink(
    entry: Any, base: str, page_url: str, *, strong_only: bool | Callable[[], bool] = False,
) -> str | None:
    """The permalink of ``entry`` on the page at ``page_url``, or ``None``.

    Looks in the entry, then (when nothing fits) in enclosing entries. ``strong_only`` keeps
    to the markup that names an entry's own URL (``u-url``, ``rel=bookmark``, the heading's
    link): on a page with a single entry, a date-shaped link is as likely another post.
    It may be a function, called (once) only when that markup names nothing.
    """
    scope = entry
    asked: list[bool] = []

    def strong() -> bool:
        if not asked:
            asked.append(bool(strong_only()) if callable(strong_only) else strong_only)
        return asked[0]

    for _ in range(3):
        found = _permalink_in(scope, base, page_url, strong)
        if found is _ITSELF:
            return None
        if found:
            return found
        parent = scope.getparent()
        while parent is not None and _entry_strength(parent) == 0:
            parent = parent.getparent()
        if parent is None or parent.tag == "body":
            break
        scope = parent
    return None


#: What :func:`_permalink_in` answers when the entry's own markup names the page itself.
_ITSELF = "(the page itself)"


def _permalink_in(entry: Any, base: str, page_url: str, strong_only: Callable[[], bool]) -> str | None:
    anchors = []  # (link, href, class)
    marked = []  # u-url, u-uid
    bookmarks = []  # rel=bookmark
    for a in entry.iter("a"):
        href = a.get("href")
        if not href:
            continue
        value = a.get("class")
        anchors.append((a, href, value))
        if value and ("u-url" in value or "u-uid" in value) and ("u-url" in value.split() or "u-uid" in value.split()):
            marked.append((a, href))
        rel = a.get("rel")
        if rel and "bookmark" in rel.lower().split():
            bookmarks.append((a, href))
    found = None

    page: list[str | None] = []  # the page's own key, once a candidate needs it
    refused: set[tuple[str | None, bool]] = set()  # one href is often in several candidate lists
    itself: list[bool] = []  # [True] once the entry's own markup named the page

    def pick(hrefs: Iterable[str | None], explicit: bool = False) -> str | None:
        for href in hrefs:
            if (href, explicit) in refused:
                continue
            url = _ok(dom.resolve(base, href), page_url, explicit)
            if url:
                if not page:
                    page.append(dom.link_key(page_url))
                if dom.normalized_key(url) != page[0]:
                    return url
                itself.append(True)
            refused.add((href, explicit))
        return None

    # 1. microformats: u-url / u-uid of the entry itself (not of an author card inside it).
    in_nested_object = _NestedObjects(entry)
    found = pick((href for a, href in marked if not in_nested_object(a)), explicit=True)
    # 2. rel=bookmark (HTML's "the permalink of the nearest article").
    found = found or pick((href for a, href in bookmarks if not in_nested_object(a)), explicit=True)
    # 3. the entry heading's link.
    if not found:
        for heading in entry.iter(*dom.HEADINGS):
            found = pick(a.get("href") for a in heading.iter("a"))
            if found:
                break
    if found:
        return found
    if itself:
        # The entry's u-url, bookmark or heading names this very page: it is the entry's own
        # page, whatever else the entry links to or the page shows beside it.
        return _ITSELF
    # 4. themes' permalink classes, a link around <time>, links named "permalink", "more";
    # 5. a same-site link with a date-shaped path. Neither is a permalink unless the page
    # lists several entries, which is asked last: it is a search of the whole page.
    candidates = []
    for a, href, value in anchors:
        if value and not _PERMALINK_CLASSES.isdisjoint(value.split()):
            candidates.append((a, href))
            continue
        parent = a.getparent()
        value = parent.get("class") if parent is not None else None
        if value and ("-title" in value and ("entry-title" in value.split() or "post-title" in value.split())):
            candidates.append((a, href))
            continue
        if not len(a):  # most links hold only their text
            text = a.text
        elif next(a.iter("time"), None) is not None:
            candidates.append((a, href))
            continue
        else:
            text = dom.text(a)
        if text:
            text = text.lstrip()
            # Only a text starting as one of _MORE's words can match it.
            if text and (text[0] in _MORE_FIRST or text[0].isdecimal()) and _MORE.match(" ".join(text.split())):
                candidates.append((a, href))
    found = pick(href for a, href in candidates if not in_nested_object(a))
    if not found:
        found = pick(href for a, href, _value in anchors
                     if ("/19" in href or "/20" in href) and _DATE_PATH.search(href) and not in_nested_object(a))
    if found and strong_only():
        return None
    return found
