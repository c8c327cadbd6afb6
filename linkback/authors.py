"""Who wrote an entry, and when: h-card, ``rel=author``, ``<meta name=author>``, dates.

Follows the IndieWeb authorship algorithm (https://indieweb.org/authorship) as far as one
page allows: the entry's ``p-author``/``u-author`` (an h-card, a link or a name), the
enclosing h-feed's author, a ``rel=author`` link (matched to an h-card on the page), then
``<meta name=author>``/``article:author`` and JSON-LD. When only the author's URL is known,
:func:`representative_card` reads the author's own page, which the crawler may fetch.
Classic microformats (``hentry``, ``vcard``, ``fn``, ``author``) count as their mf2 forms.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from . import dom

_CARD = frozenset({"h-card", "vcard"})
_NAME = ("p-name", "fn")
_URL = ("u-url", "url")
_PHOTO = ("u-photo", "photo")
_NESTED_ROOT = re.compile(r"^h-[a-z]")
_GENERIC_NAMES = frozenset({"author", "about", "about me", "home", "me", "profile", "website"})


@dataclass
class Author:
    name: str | None = None
    url: str | None = None
    photo: str | None = None

    def __bool__(self) -> bool:
        return bool(self.name or self.url or self.photo)


_CLASS_XPATHS: dict[tuple[str, ...], Any] = {}


def _first_with_class(
    root: Any, names: tuple[str, ...], stop_at_nested: bool = True, accept: Any = None,
) -> Any | None:
    """The first descendant of ``root`` with one of ``names``, not inside a nested h-* object
    (and for which ``accept(element)`` is true, when given)."""
    finder = _CLASS_XPATHS.get(names)
    if finder is None:
        test = " or ".join("contains(@class, '%s')" % n for n in names)
        finder = _CLASS_XPATHS[names] = dom.xpath(".//*[%s]" % test)
    for el in finder(root):
        tokens = dom.classes(el)
        if not any(n in tokens for n in names):
            continue
        if accept is not None and not accept(el):
            continue
        if not stop_at_nested:
            return el
        nested = False
        for parent in dom.ancestors(el):
            if parent is root:
                break
            parent_tokens = dom.classes(parent)
            if parent_tokens and any(_NESTED_ROOT.match(t) or t == "vcard" for t in parent_tokens):
                nested = True
                break
        if not nested:
            return el
    return None


def _has_name(el: Any) -> bool:
    return bool(dom.property_text(el, images=False))


def _url_of(el: Any, base: str) -> str | None:
    for attr in ("href", "src", "data", "value"):
        if el.get(attr):
            return dom.resolve(base, el.get(attr))
    return None


def card(el: Any, base: str) -> Author:
    """Read an h-card (or vcard) element: name, URL and photo, with mf2's implied rules."""
    author = Author()
    # mf2: a p-name's value is its textContent, hidden parts included, never its tail. An
    # avatar's alt ("User Avatar") is no name: a p-name with text of its own comes first.
    name_el = _first_with_class(el, _NAME, accept=_has_name)
    if name_el is None:
        name_el = _first_with_class(el, _NAME)
    if name_el is not None:
        author.name = dom.property_text(name_el, images=False) or name_el.get("alt") or name_el.get("title")
    url_el = _first_with_class(el, _URL)
    if url_el is not None:
        author.url = _url_of(url_el, base)
    elif el.tag == "a":
        author.url = dom.resolve(base, el.get("href"))
    else:
        anchors = [a for a in el.iter("a") if a.get("href")]
        if len(anchors) == 1:
            author.url = dom.resolve(base, anchors[0].get("href"))
    photo_el = _first_with_class(el, _PHOTO)
    if photo_el is not None:
        author.photo = _url_of(photo_el, base)
    else:
        images = [img for img in el.iter("img") if img.get("src")]
        if len(images) == 1:
            author.photo = dom.resolve(base, images[0].get("src"))
    if author.name is None:
        if el.tag == "img":
            author.name = el.get("alt")
        else:
            author.name = dom.visible_text(el) or None
            if author.name is None:
                for img in el.iter("img"):
                    author.name = img.get("alt") or None
                    break
    if author.name is not None:
        author.name = author.name.strip()[:200] or None
    return author


# A plain contains() first: the token test is costly and most elements fail the first.
_CARDS = dom.xpath(
    "//*[contains(@class, 'card')][contains(concat(' ', normalize-space(@class), ' '), ' h-card ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' vcard ')]"
)
_ENTRY_XPATH = dom.xpath(
    "(//*[contains(@class, 'entry')][contains(concat(' ', normalize-space(@class), ' '), ' h-entry ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' hentry ')])[1]"
)


def _cards(tree: Any) -> list[Any]:
    """Every h-card (or vcard) of the page (``tree`` or a :class:`~linkback.dom.Page`)."""
    page = dom.as_page(tree)
    cards = page.cache.get("cards")
    if cards is None:
        cards = page.cache["cards"] = list(_CARDS(page.tree)) if page.mentions("h-card", "vcard") else []
    return cards


def _card_for_url(page: dom.Page, url: str, base: str) -> Author | None:
    cards = _cards(page)
    if not cards:
        return None
    read = page.cache.get(("read cards", base))
    if read is None:
        read = page.cache[("read cards", base)] = [card(el, base) for el in cards]
    for author in read:
        if author.url and _same(author.url, url):
            return Author(author.name, author.url, author.photo)
    return None


def _same(a: str, b: str) -> bool:
    return a.rstrip("/").split("://", 1)[-1] == b.rstrip("/").split("://", 1)[-1]


def _author_from(el: Any, page: dom.Page, base: str) -> Author:
    tokens = dom.classes(el)
    if not _CARD.isdisjoint(tokens):
        return card(el, base)
    inner = _first_with_class(el, ("h-card", "vcard"), stop_at_nested=False)
    if inner is not None:
        return card(inner, base)
    url = _url_of(el, base) if el.tag in ("a", "link", "area") else None
    if url:
        found = _card_for_url(page, url, base)
        if found is not None:
            return found
        # u-author is a URL property: its text is not the author's name (mf2).
        text = dom.property_text(el) if "u-author" not in tokens else ""
        return Author(name=text if text and "://" not in text else None, url=url)
    text = dom.property_text(el)
    return Author(name=text[:200] if text else None)


def main_entry(tree: Any) -> Any | None:
    """The page's first h-entry (or hentry), if any (``tree`` may be a :class:`~linkback.dom.Page`)."""
    page = dom.as_page(tree)
    if "main entry" not in page.cache:
        found = _ENTRY_XPATH(page.tree) if page.mentions("h-entry", "hentry") else []
        page.cache["main entry"] = found[0] if found else None
    return page.cache["main entry"]



_UNSET: Any = object()


def find_author(tree: Any, entry: Any | None, base: str, *, main: Any = _UNSET) -> Author | None:
    """The author of ``entry`` (or of the page's main entry), ``None`` when nothing says.

    :param tree: the page's tree, or a :class:`~linkback.dom.Page` of it.
    :param main: the page's :func:`main_entry` when already known.
    """
    page = dom.as_page(tree)
    scope = entry if entry is not None else (main_entry(page) if main is _UNSET else main)
    if scope is not None:
        el = _first_with_class(scope, ("p-author", "u-author", "author"))
        if el is not None:
            author = _author_from(el, page, base)
            if author:
                return author
        for parent in dom.ancestors(scope):
            tokens = dom.classes(parent)
            if "h-feed" in tokens or "hfeed" in tokens:
                el = _first_with_class(parent, ("p-author", "u-author", "author"))
                if el is not None:
                    author = _author_from(el, page, base)
                    if author:
                        return author
    fallback = None
    everywhere = [el for el in page.walked() if el.tag == "a" or el.tag == "link"]
    rel_scopes = ([scope.iter("a", "link")] if scope is not None else []) + [everywhere]
    for elements in rel_scopes:
        if fallback is not None:
            break
        for a in elements:
            rel = a.get("rel")
            if rel and "author" in rel.lower().split() and a.get("href"):
                url = dom.resolve(base, a.get("href"))
                if not url:
                    continue
                found = _card_for_url(page, url, base)
                if found is not None:
                    return found
                if url.lower().endswith(".txt"):
                    continue  # humans.txt: a file about the site, not an author
                text = dom.visible_text(a) if a.tag == "a" else ""
                name = text if text and text.lower() not in _GENERIC_NAMES and "://" not in text else None
                if name:
                    return Author(name=name, url=url)
                fallback = Author(url=url)  # a name may still come from below
                break
    # A page whose only top-level h-card stands beside its entries: that card is their
    # author (how XRay and link blogs such as adactio.com/links read it).
    cards = [c for c in _cards(page) if not any(
        not _CARD.isdisjoint(dom.classes(p)) or "h-entry" in dom.classes(p) or "hentry" in dom.classes(p)
        for p in dom.ancestors(c))]
    if len(cards) == 1 and dom.classes(cards[0]) and "h-card" in dom.classes(cards[0]):
        author = card(cards[0], base)
        if author.name:
            return author
    name = page.meta("author", "article:author", "dc.creator", "twitter:creator")
    if name:
        if name.startswith(("http://", "https://")):
            return fallback or Author(url=name)
        return Author(name=name[:200], url=fallback.url if fallback else None)
    return _json_ld_author(page, base) or fallback


def _json_ld(page: dom.Page) -> list[dict[str, Any]]:
    items = page.cache.get("json-ld")
    if items is None:
        items = page.cache["json-ld"] = _read_json_ld(page.tagged("script"))
    return items


def _read_json_ld(scripts: list[Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for script in scripts:
        if (script.get("type") or "").lower() != "application/ld+json" or not script.text:
            continue
        try:
            data = json.loads(script.text[:200_000])
        except ValueError:
            continue
        stack = [data]
        while stack and len(items) < 50:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                items.append(item)
                if isinstance(item.get("@graph"), list):
                    stack.extend(item["@graph"])
    return items


def _json_ld_author(page: dom.Page, base: str) -> Author | None:
    for item in _json_ld(page):
        author = item.get("author")
        if isinstance(author, list) and author:
            author = author[0]
        if isinstance(author, str) and author.strip():
            return Author(name=author.strip()[:200])
        if isinstance(author, dict) and isinstance(author.get("name"), str) and author["name"].strip():
            url = author.get("url") if isinstance(author.get("url"), str) else None
            return Author(name=author["name"].strip()[:200], url=dom.resolve(base, url) if url else None)
    return None


def representative_card(tree: Any, page_url: str) -> Author | None:
    """The h-card that represents the page (the author's own page, for authorship).

    ``u-url`` = ``u-uid`` = the page, else a ``u-url`` that is also ``rel=me``, else
    ``u-url`` = the page, else the only h-card (whose URL is then the page).
    """
    cards = [c for c in _cards(tree) if not any(not _CARD.isdisjoint(dom.classes(p)) for p in dom.ancestors(c))]
    if not cards:
        return None
    me = [dom.resolve(page_url, href) or "" for href in dom.link_rel(tree, "me")]
    read = [(card(c, page_url), c) for c in cards]
    for author, el in read:
        uid = _first_with_class(el, ("u-uid", "uid"))
        uid_url = _url_of(uid, page_url) if uid is not None else None
        if author.url and uid_url and _same(author.url, page_url) and _same(uid_url, page_url):
            return author
    for author, _el in read:
        if author.url and any(_same(author.url, m) for m in me):
            return author
    for author, _el in read:
        if author.url and _same(author.url, page_url):
            return author
    if len(read) == 1:
        author = read[0][0]
        author.url = author.url or page_url
        return author
    return None


# --- dates --------------------------------------------------------------------------------------

_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?)?")


def normalize_date(value: str | None) -> str | None:
    """An ISO 8601 date or time as ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM:SSZ`` (UTC), else ``None``."""
    if not value:
        return None
    match = _ISO.search(value.strip()[:64])
    if not match:
        return None
    year, month, day, hour, minute, second, zone = match.groups()
    try:
        date = dt.date(int(year), int(month), int(day))
    except ValueError:
        return None
    if not 1990 <= date.year <= 2100:
        return None
    if hour is None:
        return date.isoformat()
    try:
        moment = dt.datetime(date.year, date.month, date.day, int(hour), int(minute), int(second or 0))
    except ValueError:
        return date.isoformat()
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        moment -= sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4]))
    elif not zone:
        return moment.strftime("%Y-%m-%dT%H:%M:%S")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _date_of(el: Any) -> str | None:
    for attr in ("datetime", "title", "content", "value"):
        found = normalize_date(el.get(attr))
        if found:
            return found
    value = _first_with_class(el, ("value",))
    if value is not None:
        found = normalize_date(value.get("title") or value.get("datetime") or dom.text(value))
        if found:
            return found
    return normalize_date(dom.text(el))


def find_published(tree: Any, entry: Any | None, *, main: Any = _UNSET) -> str | None:
    """When the entry was published: ``dt-published``, ``article:published_time``, ``<time>``.

    :param tree: the page's tree, or a :class:`~linkback.dom.Page` of it.
    """
    page = dom.as_page(tree)
    scope = entry if entry is not None else (main_entry(page) if main is _UNSET else main)
    if scope is not None:
        el = _first_with_class(scope, ("dt-published", "published"))
        if el is not None:
            found = _date_of(el)
            if found:
                return found
    if entry is None or scope is None:
        found = normalize_date(page.meta(
            "article:published_time", "og:published_time", "datepublished", "date", "dc.date",
            "dcterms.created",
        ))
        if found:
            return found
    for times in ([scope.iter("time")] if scope is not None else []) + ([page.tagged("time")] if entry is None else []):
        for time_el in times:
            found = normalize_date(time_el.get("datetime"))
            if found:
                return found
    if entry is None:
        for item in _json_ld(page):
            if isinstance(item.get("datePublished"), str):
                found = normalize_date(item["datePublished"])
                if found:
                    return found
    return None
