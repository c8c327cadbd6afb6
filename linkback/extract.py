"""Verification and extraction: does a page link to us, and what should a reader see of it.

Pure functions over HTML strings and lxml trees; nothing here does I/O. HTML is parsed with
lxml's HTML parser with the network switched off, so no DTD or entity is ever loaded and
broken markup still gives a tree. The main entry point is :func:`analyse`::

    >>> result = analyse(html, "https://blog.example/", "https://example.com/post")
    >>> result.verified, result.permalink, result.title     # doctest: +SKIP
    (True, 'https://blog.example/2024/05/hello/', 'Hello')

Verification follows the Webmention spec (W3C REC, 3.2.2): the page must contain an
``<a href>`` or ``<area href>`` (and with ``include_media``, an ``img``, ``video`` or
``audio`` ``src``) whose URL, resolved against ``<base href>`` and the page's final URL,
is the target. URLs are compared loosely: ``http``/``https`` and ``www.``/bare host are
equal, a trailing slash, the fragment and tracking parameters do not matter.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import operator
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from itertools import islice
from typing import Any

import lxml.etree

from . import dom, urls
from .authors import find_author, find_published
from .blurbs import BLURB_LENGTH, make_blurb, window  # noqa: F401 (part of this module's interface)
from .discussions import find_discussion
from .permalinks import entry_title, find_entry, find_permalink, is_listing

logger = logging.getLogger(__name__)

#: Content types parsed as HTML.
HTML_TYPES = ("text/html", "application/xhtml+xml")

#: libxml2 2.14 and later read their input as HTML5 says: a NUL character is U+FFFD, and the
#: encoding the caller gives is kept whatever the page's ``<meta charset>`` says. There the
#: page is handed over as UTF-8, libxml2's own encoding: a str as it is (Latin-1, UCS-2 or
#: UCS-4 inside) is converted on the way, which costs about a seventh of the parse. Earlier
#: releases get the str, with its NULs replaced here.
_HTML5_INPUT = lxml.etree.LIBXML_VERSION >= (2, 14)
# no_network: nothing (DTD, entity, XInclude) is fetched; comments and PIs are dropped
# at parse time, so they never reach text or blurbs.
# Plain etree elements, not lxml.html's: the per-element class lookup of lxml.html costs
# more than the rest of the extraction together.
_PARSER = lxml.etree.HTMLParser(
    no_network=True, remove_comments=True, remove_pis=True, collect_ids=False, default_doctype=False,
    encoding="utf-8" if _HTML5_INPUT else None,
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([^\s;\"']+)", re.I)
_TITLE_SEPARATORS = re.compile(r"\s+(?:\||–|—|-|::|»|·|•|~|/)\s+")
_STATUS = re.compile(r"^\s*(\d{3})\b")
_XML_DECLARATION = re.compile(r"\s*<\?xml")


# --- decoding and parsing ----------------------------------------------------------------------


def is_html_type(content_type: str) -> bool:
    """True for ``text/html`` and ``application/xhtml+xml`` (parameters ignored)."""
    return content_type.split(";", 1)[0].strip().lower() in HTML_TYPES


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        codec = codecs.lookup(name.strip().strip("\"'"))
    except LookupError:
        return None
    # WHATWG: a page labelled latin-1 or ascii is decoded as windows-1252.
    if codec.name in ("latin-1", "iso8859-1", "ascii"):
        return "cp1252"
    return codec.name


def decode_html(content: bytes, content_type: str = "") -> str:
    """Decode an HTML body: BOM, ``charset`` header, ``<meta charset>``, then UTF-8, then cp1252."""
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                      (codecs.BOM_UTF16_BE, "utf-16-be")):
        if content.startswith(bom):
            return content[len(bom):].decode(name, "replace")
    match = _CHARSET.search(content_type or "")
    codec = _codec(match.group(1)) if match else None
    if codec is None:
        meta = _META_CHARSET.search(content[:4096])
        codec = _codec(meta.group(1).decode("ascii", "replace")) if meta else None
    if codec in ("utf-16", "utf-16-le", "utf-16-be", "utf-32"):
        codec = "utf-8"  # a meta tag readable as ASCII cannot be in UTF-16 (WHATWG)
    if codec is not None:
        return content.decode(codec, "replace")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode("cp1252", "replace")


def parse_html(html: str | bytes) -> Any | None:
    """Parse HTML into an lxml tree safely; ``None`` for an empty document.

    Bytes are decoded with :func:`decode_html` first. No entity is resolved beyond HTML's
    own character references, and nothing is loaded from the network.
    """
    if isinstance(html, bytes):
        html = decode_html(html)
    if not _HTML5_INPUT and "\x00" in html:
        html = html.replace("\x00", "\ufffd")
    if not html or html.isspace():  # (no copy of the page, as strip() would make)
        return None
    # An XML declaration in a str makes lxml refuse it; it says nothing we need.
    if _XML_DECLARATION.match(html):
        html = html[html.index("?>") + 2:] if "?>" in html else html
    data: str | bytes = html
    if _HTML5_INPUT:
        try:
            data = html.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate, which no encoding holds
            data = _SURROGATE.sub("\ufffd", html).encode("utf-8")
    try:
        root = lxml.etree.fromstring(data, parser=_PARSER)
    except (lxml.etree.ParserError, lxml.etree.XMLSyntaxError, ValueError) as e:
        logger.debug("unparseable HTML: %s", e)
        return None
    if root is None or not isinstance(root.tag, str):
        return None
    if root.tag != "html":  # a fragment: lxml gives its first element; wrap like a document
        wrapper = b"<html><body>%s</body></html>" if isinstance(data, bytes) else "<html><body>%s</body></html>"
        return lxml.etree.fromstring(wrapper % data, parser=_PARSER)
    return root


# --- links -------------------------------------------------------------------------------------


def base_url(tree: Any, page_url: str) -> str:
    """The URL relative links resolve against: the first ``<base href>``, else the page's URL."""
    return _base(tree.iter("base"), page_url)


def _base(bases: Any, page_url: str) -> str:
    for base in bases:
        href = dom.resolve(page_url, base.get("href"))
        if href:
            return href
        break
    return page_url


link_key = dom.link_key


_MEDIA = {"img": "src", "video": "src", "audio": "src", "source": "src"}
_LINK_TAGS = ("a", "area")
_MEDIA_TAGS = ("a", "area", *_MEDIA)


def find_links(tree: Any, base: str, *, include_media: bool = False) -> list[tuple[Any, str]]:
    """Every ``(element, absolute URL)`` the page links to, in document order.

    ``<a href>`` and ``<area href>``; with ``include_media`` also ``img``/``video``/``audio``
    ``src`` (Webmention counts embedded media as links).
    """
    tags = _MEDIA_TAGS if include_media else _LINK_TAGS
    found = []
    for el in tree.iter(*tags):
        url = dom.resolve(base, el.get(_MEDIA.get(el.tag, "href")))
        if url:
            found.append((el, url))
    return found


def links_to(tree: Any, base: str, target: str, *, include_media: bool = False) -> list[Any]:
    """The elements linking to ``target`` (loosely compared, see :func:`link_key`)."""
    if include_media:
        return _matching(tree.iter(*_MEDIA_TAGS), base, target, True)
    return _links_in(tree, base, target)


def _links_in(tree: Any, base: str, target: str) -> list[Any]:
    """The ``<a>`` and ``<area>`` elements of ``tree`` whose URL is ``target``."""
    return _found(tree, [el.get("href", "") for el in tree.iter(*_LINK_TAGS)], base, target)


def _read_links(tree: Any) -> tuple[list[str], Any]:
    """The ``href`` of every ``<a>`` and ``<area>`` (``""`` when none), and the first
    ``<base>``, in one walk of the page."""
    hrefs = []
    base = None
    for el in tree.iter("a", "area", "base"):
        if el.tag != "base":
            hrefs.append(el.get("href", ""))
        elif base is None:
            base = el
    return hrefs, base


def _found(tree: Any, hrefs: list[str], base: str, target: str) -> list[Any]:
    """The links of ``tree`` whose ``hrefs`` (in document order) resolve to ``target``.

    A page has a hundred links and a few to the target: the links' URLs are read without
    keeping their elements (an element kept costs more than one read and let go), and the
    elements of the few that match are found again by position.
    """
    wanted = _matching_hrefs(hrefs, base, target)
    if not wanted:
        return []
    found = []
    links = tree.iter(*_LINK_TAGS)
    previous = -1
    for position in wanted:
        found.append(next(islice(links, position - previous - 1, None)))
        previous = position
    return found


def _matching(elements: Any, base: str, target: str, media: bool = False) -> list[Any]:
    """Those of ``elements`` (links, and media with ``media``) whose URL is ``target``."""
    elements = elements if isinstance(elements, list) else list(elements)
    if media:
        hrefs = [el.get("href" if el.tag in _LINK_TAGS else "src") or "" for el in elements]
    else:
        hrefs = list(map(_HREF, elements))
    return [elements[index] for index in _matching_hrefs(hrefs, base, target)]


def _matching_hrefs(hrefs: list[str], base: str, target: str) -> list[int]:
    """The positions, in order, of those of ``hrefs`` that are ``target`` once resolved."""
    key = _target_key(target)
    if key is None:
        return []
    target_host = key.split("/", 1)[0].split(":", 1)[0]
    # The last path segment of the target must appear in a relative link that matches.
    tail = (key.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] if "/" in key else "").lower()
    base_host = dom.host(base)
    base_host = base_host[4:] if base_host.startswith("www.") else base_host
    local = base_host == target_host
    found: list[int] = []
    seen: dict[str, bool] = {}

    def check(index: int, href: str) -> None:
        # Cheap filters first, on the text: a link to another host that does not even name
        # the target's host (in any case) cannot match, nor a relative link unless we link
        # to the page's own host. Only non-ASCII links (IDN hosts) need the full test.
        if target_host not in href:
            if not local and href.isascii() and (href.islower() or target_host not in href.lower()):
                return
            head = href[:12].lstrip()
            if ":" in head or head.startswith("//"):
                if href.isascii() and (href.islower() or target_host not in href.lower()):
                    return
            elif not local or (tail and href.isascii() and tail not in href.lower()):
                return
        elif tail and tail not in href and href.isascii() and tail not in href.lower():
            return
        matched = seen.get(href)
        if matched is None:
            matched = _fast_match(href, key)
            if matched is None:
                url = dom.resolve(base, href)
                matched = bool(url) and link_key(url) == key
            seen[href] = matched
        if matched:
            found.append(index)

    # When lower-casing keeps every position (each character stays one) and the target is
    # on another host, one search of all the links, in C, finds the few that can match.
    joined = "\x00".join(hrefs)  # the parser never leaves a NUL in an attribute
    if local or not target_host or not target_host.islower():
        for index, href in enumerate(hrefs):
            if href:
                check(index, href)
        return found
    if joined.isascii():
        for index in _named(joined, joined.lower(), target_host, tail):
            check(index, hrefs[index])
        return found
    # A link with other characters (an IDN host) is compared in full, whatever it names; the
    # others are searched as above (lower-casing ASCII keeps every position).
    others = [index for index, href in enumerate(hrefs) if not href.isascii()]
    plain = list(hrefs)
    for index in others:
        plain[index] = ""
    joined = "\x00".join(plain)
    for index in sorted({*others, *_named(joined, joined.lower(), target_host, tail)}):
        check(index, hrefs[index])
    return found


#: :func:`link_key` of a target: a site's crawls verify links to its few pages over and over.
_target_key = lru_cache(maxsize=1024)(link_key)


def _named(joined: str, lowered: str, host: str, tail: str) -> Iterator[int]:
    """The positions of the links in ``joined`` (NUL-separated) that name ``host`` and,
    when there is one, ``tail``, ignoring case (``lowered`` is ``joined`` lower-cased)."""
    # A link that matches names the target's host and (when the target has a path) its last
    # segment: search for the rarer of the two, check the other in that link's text.
    needle, other = host, tail
    if tail:
        hosts = lowered.count(host)
        if hosts > 2 and lowered.count(tail) < hosts:
            needle, other = tail, host
    at = lowered.find(needle)
    index = position = 0
    while at >= 0:
        index += joined.count("\x00", position, at)
        position = at
        end = lowered.find("\x00", at)
        if end < 0:
            end = len(lowered)
        if not other or other in lowered[lowered.rfind("\x00", 0, at) + 1:end]:
            yield index
        at = lowered.find(needle, end)


_HREF = operator.methodcaller("get", "href", "")


#: An absolute link whose normal form is its own text: lower-case host, no port, user,
#: escape, dot segment or character that normalisation would encode.
_PLAIN_LINK = re.compile(r"(?:[hH][tT][tT][pP][sS]?:)?//([a-z0-9_-]+(?:\.[a-z0-9_-]+)*)(/[A-Za-z0-9/._~!$&()*+,=-]*)?"
                         r"(\?[^#]*)?(?:#.*)?", re.S)


def _fast_match(href: str, key: str) -> bool | None:
    """Compare a plain absolute link with a key without normalising; ``None`` when unsure.

    Most links on a page are plain: for those the loose key is the text itself, and a full
    normalisation, which costs most of verification, is needed only when the path is the
    target's and a query may or may not be tracking parameters.
    """
    match = _PLAIN_LINK.fullmatch(href)
    if match is None:
        return None
    host, path, query = match.groups()
    if path and "/." in path:
        return None
    if host.startswith("www."):
        host = host[4:]
    key_path, _, key_query = key.partition("?")
    if (host + (path or "")).rstrip("/") != key_path:
        return False
    if query is None or query == "?":
        return not key_query
    if _KEPT_QUERY.fullmatch(query, 1) is None:
        return None  # normalising would escape some of it
    # Normalising keeps each parameter as written and drops tracking ones: the link is the
    # target only if its parameters are the target's, give or take tracking ones.
    wanted = key_query.split("&") if key_query else []
    given = [segment for segment in query[1:].split("&") if segment]
    if given == wanted:
        return True
    for segment in given:
        if segment not in wanted:
            if not urls.is_tracking(segment.split("=", 1)[0]):
                return False
    # Every other parameter is a tracking one, which normalising drops.
    return "&".join(segment for segment in given if segment in wanted) == key_query


#: A query that normalising leaves as written.
_KEPT_QUERY = re.compile("[A-Za-z0-9%s]*" % re.escape(urls.QUERY_SAFE))


def verify(html: str | bytes, page_url: str, target: str, include_media: bool = False) -> bool:
    """True when the page at ``page_url`` (its final URL) links to ``target``."""
    tree = parse_html(html)
    if tree is None:
        return False
    return bool(links_to(tree, base_url(tree, page_url), target, include_media=include_media))


# --- page facts --------------------------------------------------------------------------------


def site_name(tree: Any, page_url: str) -> str:
    """``og:site_name`` or ``application-name``, else the host without ``www.``.

    ``tree`` here and below: a parsed tree or a :class:`~linkback.dom.Page`.
    """
    name = dom.as_page(tree).meta("og:site_name", "application-name")
    if name:
        return name[:120]
    host = dom.host(page_url)
    return host[4:] if host.startswith("www.") else host


def page_title(tree: Any, site: str | None = None) -> str | None:
    """``og:title``, else ``<title>`` with a site-name suffix (" | Site", " – Site") removed."""
    page = dom.as_page(tree)
    title = page.meta("og:title", "twitter:title")
    if title:
        return strip_site_suffix(title, site)[:300]
    el = page.first("title")
    if el is not None and el.text:
        return strip_site_suffix(dom.collapse(el.text).strip(), site)[:300] or None
    return None


def strip_site_suffix(title: str, site: str | None) -> str:
    """Remove a trailing (or leading) site name from a title.

    The suffix goes when it is the site name (compared loosely) or, after a pipe, whatever
    it is: " | " is how templates append the site, rarely part of a headline.
    """
    parts = _TITLE_SEPARATORS.split(title)
    if len(parts) < 2:
        return title
    simple = _simplify(site or "")
    last, first = parts[-1], parts[0]
    separator = title[len(title) - len(last) - 3:len(title) - len(last)]
    if simple and (_simplify(last) == simple or simple.startswith(_simplify(last)) and len(_simplify(last)) > 3):
        return title[: len(title) - len(last)].rstrip(" |–—-:»·•~/").strip() or title
    if simple and _simplify(first) == simple:
        return title[len(first):].lstrip(" |–—-:»·•~/").strip() or title
    if "|" in separator and len(last) < 60:
        return title[: len(title) - len(last)].rstrip(" |").strip() or title
    return title


def _simplify(text: str) -> str:
    text = text.lower().removeprefix("www.")
    return _NOT_WORD.sub("", text.split(".")[0] if _DOMAIN.fullmatch(text) else text)


_NOT_WORD = re.compile(r"[^\w]+")
_DOMAIN = re.compile(r"[\w.-]+\.[a-z]{2,}")


def favicon(tree: Any, base: str) -> str:
    """The page's icon: ``<link rel=icon>`` (or apple-touch-icon), else ``/favicon.ico``."""
    best = None
    for link in dom.as_page(tree).tagged("link"):
        rel = link.get("rel")
        if not rel or "icon" not in rel.lower():
            continue
        rel = rel.lower().split()
        if "icon" in rel or "apple-touch-icon" in rel:
            url = dom.resolve(base, link.get("href"))
            if url and (best is None or "icon" in rel and "shortcut" not in rel):
                best = url
                if "icon" in rel:
                    break
    if best:
        return best
    parts = base.split("/", 3)
    return "%s//%s/favicon.ico" % (parts[0], parts[2])


def gone_signal(tree: Any) -> int | None:
    """The status a ``<meta http-equiv="Status" content="410 Gone">`` in the head announces, if any."""
    match = _STATUS.match(dom.as_page(tree).meta("http-equiv:status") or "")
    return int(match.group(1)) if match else None


def canonical_url(tree: Any, base: str) -> str | None:
    """``<link rel=canonical>`` or ``og:url``, absolute."""
    page = dom.as_page(tree)
    head = dom.head(page.tree)
    for href in dom.link_rel(head if head is not None else page.tree, "canonical"):
        url = dom.resolve(base, href)
        if url:
            return url
    return dom.resolve(base, page.meta("og:url"))


# --- everything at once ------------------------------------------------------------------------


@dataclass
class Analysis:
    """What :func:`analyse` found on a page, ready to store."""

    verified: bool = False
    in_entry: bool = False
    listing: bool = False
    title: str | None = None
    blurb: str | None = None
    blurb_start: int | None = None
    blurb_end: int | None = None
    author_name: str | None = None
    author_url: str | None = None
    author_photo: str | None = None
    published: str | None = None
    site_name: str | None = None
    favicon: str | None = None
    permalink: str | None = None
    canonical: str | None = None
    kind: str = "referrer"
    discussion_url: str | None = None
    points: int | None = None
    comments: int | None = None
    gone: bool = False
    links: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        """A hash of what a reader sees (title, blurb, author): it changes when they do."""
        text = "\x1f".join(str(v or "") for v in (self.title, self.blurb, self.author_name, self.author_url))
        return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["content_hash"] = self.content_hash
        return data


#: Where a link is navigation, a sidebar or a footer rather than the page's text.
_ASIDE_TAGS = frozenset({"nav", "aside", "footer", "header"})
_ASIDE_ROLES = frozenset({"navigation", "complementary", "contentinfo"})


def _pick_link(links: list[Any]) -> tuple[Any, Any]:
    """The link that best represents the page's mention, and its entry.

    A link inside an entry beats one in the page's main text, which beats navigation,
    sidebars and footers (blogrolls).
    """
    best, best_entry, best_rank = links[0], None, 9
    for link in links:
        entry = find_entry(link)
        if entry is not None:
            return link, entry
        if best_rank == 1:
            continue  # only a link in an entry does better
        rank = 1
        for parent in dom.ancestors(link):
            if parent.tag in _ASIDE_TAGS or parent.get("role") in _ASIDE_ROLES:
                rank = 2
                break
        if rank < best_rank:
            best, best_entry, best_rank = link, entry, rank
    return best, best_entry


def analyse(
    html: str | bytes | Any,
    page_url: str,
    target: str,
    *,
    include_media: bool = False,
    status: int = 200,
    details: bool = True,
) -> Analysis:
    """Verify that ``page_url`` links to ``target`` and extract what a reader should see.

    :param html: the page (text, bytes or an already parsed tree).
    :param page_url: the page's final URL, after redirects.
    :param status: the HTTP status it answered with (404/410 mean the page is gone).
    :param details: also read the author, published date, site name and favicon. Without
        them (``False``) the page is only verified and given its title, blurb and permalink,
        in about two thirds of the time: the author and site searches read the whole page.
    """
    result = Analysis()
    if status in (404, 410):
        result.gone = True
    if isinstance(html, bytes):
        html = decode_html(html)
    text = html if isinstance(html, str) else None
    tree = parse_html(html) if text is not None else html
    if tree is None:
        return result
    # One walk collects the elements every step below looks up (see dom.Page).
    page = dom.Page(tree, text, dom.Page.WALKED if details else dom.Page.QUICK)
    if gone_signal(page) in (404, 410):
        result.gone = True
    if details or include_media:
        base = _base(page.tagged("base"), page_url)
    else:
        # One walk of the page reads the links and finds the <base>.
        hrefs, first_base = _read_links(tree)
        base = _base(() if first_base is None else (first_base,), page_url)
    if details:
        result.site_name = site_name(page, page_url)
        result.favicon = favicon(page, base)
    canonical = canonical_url(page, base)
    if canonical and dom.same_site(canonical, page_url):
        result.canonical = urls.normalize_url(canonical)
    if include_media:
        links = _matching(tree.iter(*_MEDIA_TAGS), base, target, True)
    elif details:
        links = _matching(page.tagged("links"), base, target)  # the walk has them already
    else:
        links = _found(tree, hrefs, base, target)
    result.links = len(links)
    result.verified = bool(links) and not result.gone
    # Every step below climbs from the link (the first, most often). lxml makes a Python
    # object for an element each time one is reached and none is alive: the ancestors,
    # kept here until the end, are made once instead of at every climb.
    climb = list(dom.ancestors(links[0])) if links else []
    link, entry = _pick_link(links) if links else (None, None)
    if link is not None and link is not links[0]:
        climb += dom.ancestors(link)
    result.in_entry = entry is not None
    discussion = find_discussion(tree, page_url, link)
    permalink = None
    if entry is not None:
        # Whether the page lists several entries matters only when the entry's markup
        # does not name its permalink: ask only then (it is a search of the whole page).
        permalink = find_permalink(entry, base, page_url, strong_only=lambda: not is_listing(page, entry))
        if permalink and result.canonical and link_key(permalink) == link_key(result.canonical):
            permalink = None
    result.listing = permalink is not None
    result.permalink = permalink or result.canonical or urls.normalize_url(page_url)
    if discussion is not None:
        result.kind = "discussion"
        result.discussion_url = discussion.url
        result.points = discussion.points
        result.comments = discussion.comments
        result.title = discussion.title
        if discussion.url:
            result.permalink = urls.normalize_url(discussion.url) or result.permalink
    if result.title is None:
        own = entry_title(entry) if entry is not None else None
        result.title = own or page_title(page, result.site_name or site_name(page, page_url))
    if link is not None:
        result.blurb, result.blurb_start, result.blurb_end = make_blurb(link, entry)
    if details:
        author = find_author(page, entry, base)
        if author is not None:
            result.author_name, result.author_url, result.author_photo = author.name, author.url, author.photo
        result.published = find_published(page, entry)
    return result
