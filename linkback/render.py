"""The linkback block: the verified linkbacks of one page as safe HTML, cached per process.

In a template::

    {{ linkback.render(request.url, database="linkback.db") }}

or through the middleware an application already has::

    {{ middleware.render(request.url, limit=10, order="newest") }}

Only linkbacks with status ``verified`` are listed. Every field came from a page somebody
else wrote, so each is cleaned of control and direction-override characters, shortened and
escaped; a URL reaches ``href`` or ``src`` only when it is http(s).

Rendered blocks are cached. Each call reads a counter that database triggers raise whenever
something a reader could see changes, in any process (see :meth:`Store.change_token`); on
a change the cache is emptied. Counting hits does not raise it, so live traffic keeps the
cache warm; visitor figures and the ``score`` order refresh within :data:`CACHE_TTL`.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from importlib import resources
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape

from . import urls
from .errors import ConfigError, LinkbackError
from .store import KINDS, Store, isotime, utcnow

logger = logging.getLogger(__name__)

#: Rendered blocks kept per database, least recently used dropped first.
CACHE_SIZE = 2048
#: Seconds a cached block lives even when nothing it shows changed: visitor figures, the
#: ``score`` order and ``max_age`` move with traffic and the clock.
CACHE_TTL = 60.0
#: Discussion badges shown at most.
MAX_DISCUSSIONS = 5
#: Longest title, site name and author shown, in characters.
MAX_TEXT = 200
#: Longest URL put in an attribute.
MAX_URL = 2048

#: Texts of the block; override any with ``labels={...}``. ``{n}`` is a number, ``{site}`` a name.
LABELS: dict[str, str] = {
    "discussed_on": "Discussed on {site}",
    "point": "1 point",
    "points": "{n} points",
    "comment": "1 comment",
    "comments": "{n} comments",
    "visitor": "1 visitor",
    "visitors": "{n} visitors",
}

#: Names of aggregators whose discussion pages carry no usable site name.
DISCUSSION_SITES: dict[str, str] = {
    "news.ycombinator.com": "Hacker News",
    "www.reddit.com": "Reddit",
    "old.reddit.com": "Reddit",
    "lobste.rs": "Lobsters",
    "slashdot.org": "Slashdot",
    "tildes.net": "Tildes",
    "lemmy.world": "Lemmy",
}

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SPACE = re.compile(r"\s+")
# C0/C1 controls, and the marks that reorder text (U+202A-E overrides and embeddings,
# U+2066-9 isolates, U+200E/F and U+061C marks): an entry must not flip the text after it
# ("Trojan Source"). Zero-width spaces and BOMs hide text. ZWJ/ZWNJ stay, emoji need them.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)
_REL = re.compile(r"^[a-z]+(?: [a-z]+)*$")
# An http(s) URL already in the form normalize_url gives (lower-case ASCII host, no
# credentials, only unreserved, sub-delim and percent-escaped characters): safe in an
# attribute as it is, which spares most entries the full parse.
_PLAIN_URL = re.compile(
    r"https?://[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?(?::[0-9]{1,5})?"
    r"(?:/[A-Za-z0-9\-._~!$&()*+,;=:@%/]*)?(?:\?[A-Za-z0-9\-._~!$&()*+,;=:@%/?]*)?"
    r"(?:#[A-Za-z0-9\-._~!$&()*+,;=:@%/?]*)?\Z"
)


# --- options ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DisplayOptions:
    """What a block shows. Every field is a keyword of :func:`render`."""

    #: Entries shown at most (discussion badges are counted apart).
    limit: int = 20
    #: Leave out linkbacks not seen for this many days (``None``: no limit).
    max_age: float | None = None
    #: Minimum visitor estimate of a referrer.
    min_visitors: float = 0
    #: Minimum compensated value (hits after fraud compensation) of a referrer.
    min_value: float = 0
    #: Kinds listed: ``referrer``, ``webmention``, ``pingback``, ``trackback``, ``discussion``.
    kinds: tuple[str, ...] = KINDS
    #: ``score``, ``newest`` or ``visitors``.
    order: str = "score"
    #: The block's heading; ``None`` or ``""`` for none.
    heading: str | None = "Who links here"
    #: The heading's level, 1 to 6.
    heading_level: int = 2
    #: Text shown when nothing is listed; ``None`` renders nothing at all.
    empty: str | None = None
    #: ``rel`` of every outgoing link.
    rel: str = "nofollow ugc"
    #: Open links in a new tab (adds ``noopener``).
    new_tab: bool = False
    show_blurb: bool = True
    show_author: bool = True
    show_date: bool = True
    show_visitors: bool = True
    #: Favicons and author photos load from the linking site, which then sees your readers.
    show_images: bool = False
    #: Discussion badges above the list (with ``discussion`` in ``kinds``).
    discussions: bool = True
    #: Link the default stylesheet from the block when the middleware serves it.
    stylesheet: bool = True
    #: ``strftime`` format of dates; ``None``: "3 Mar 2024".
    date_format: str | None = None
    #: Longest blurb, in characters.
    max_blurb: int = 280
    #: Texts, see :data:`LABELS`.
    labels: tuple[tuple[str, str], ...] = ()

    def label(self, name: str, n: int | None = None, site: str = "") -> str:
        text = dict(self.labels).get(name, LABELS[name])
        if n is not None:
            text = text.replace("{n}", f"{n:,}")
        return text.replace("{site}", site)


_FIELDS = {f.name: f for f in fields(DisplayOptions)}


def _check(name: str, value: Any) -> Any:
    """One option, converted to its stored form; :class:`ConfigError` when it is wrong."""
    def fail(expected: str) -> ConfigError:
        return ConfigError("display option %s: expected %s, got %r" % (name, expected, value))

    def number(low: float, high: float, whole: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise fail("a number from %s to %s" % (low, high))
        if whole and value != int(value):
            raise fail("a whole number")
        return int(value) if whole else float(value)

    if name not in _FIELDS:
        raise ConfigError("unknown display option: %s" % name)
    if name in ("limit", "max_blurb"):
        return int(number(0, 1000 if name == "limit" else 5000, whole=True))
    if name == "heading_level":
        return int(number(1, 6, whole=True))
    if name == "max_age":
        if value is None:
            return None
        if isinstance(value, dt.timedelta):
            value = value.total_seconds() / 86400
        return number(0, 100_000)
    if name in ("min_visitors", "min_value"):
        return number(0, 1e12)
    if name == "kinds":
        items = (value,) if isinstance(value, str) else value
        if not isinstance(items, Iterable) or any(k not in KINDS for k in items):
            raise fail("kinds among %s" % ", ".join(KINDS))
        return tuple(k for k in KINDS if k in set(items))
    if name == "order":
        if value not in ("score", "newest", "visitors"):
            raise fail("score, newest or visitors")
        return value
    if name in ("heading", "empty", "date_format"):
        if value is not None and not isinstance(value, str):
            raise fail("text or None")
        if name == "date_format" and value is not None:
            try:
                dt.date(2000, 1, 2).strftime(value)
            except ValueError:
                raise fail("a strftime format") from None
        return value
    if name == "rel":
        if not isinstance(value, str) or not _REL.match(value.strip().lower() or "x"):
            raise fail("space-separated link types")
        return value.strip().lower()
    if name == "labels":
        items = value.items() if isinstance(value, Mapping) else value
        try:
            pairs = tuple(sorted((str(k), v) for k, v in items))
        except (TypeError, ValueError):
            raise fail("a mapping of label names to texts") from None
        for key, text in pairs:
            if key not in LABELS or not isinstance(text, str):
                raise fail("label names among %s with text values" % ", ".join(LABELS))
        return pairs
    if not isinstance(value, bool):
        raise fail("True or False")
    return value


def validate_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Check display options; return them in the JSON form stored per site.

    :raises ConfigError: naming the first unknown or wrong option.

    >>> validate_options({"limit": 5, "kinds": ["webmention"]})
    {'limit': 5, 'kinds': ['webmention']}
    """
    result: dict[str, Any] = {}
    for name, value in options.items():
        checked = _check(name, value)
        if name == "kinds":
            checked = list(checked)
        elif name == "labels":
            checked = dict(checked)
        result[name] = checked
    return result


def resolve_options(*layers: Mapping[str, Any], strict: Iterable[bool] = ()) -> DisplayOptions:
    """Merge option layers, later ones winning, into :class:`DisplayOptions`.

    A layer marked not ``strict`` (options stored in the database, edited by people) has
    its bad entries logged and skipped instead of raising while a page renders.
    """
    strictness = list(strict)
    values: dict[str, Any] = {}
    for index, layer in enumerate(layers):
        is_strict = strictness[index] if index < len(strictness) else True
        for name, value in layer.items():
            try:
                values[name] = _check(name, value)
            except ConfigError as e:
                if is_strict:
                    raise
                logger.warning("ignoring stored %s", e)
    return DisplayOptions(**values)


def options_dict(options: DisplayOptions) -> dict[str, Any]:
    """The options in JSON form (for the admin's form)."""
    data = asdict(options)
    data["kinds"] = list(options.kinds)
    data["labels"] = dict(LABELS, **dict(options.labels))
    return data


# --- cleaning ---------------------------------------------------------------------------------


def _squeeze(text: str) -> str:
    """Invisible characters removed and runs of white space made one space."""
    # Most text is already clean; isprintable() is False for every control, format (bidi,
    # zero-width) and separator character but the plain space, so it screens in C.
    if text.isprintable() and "  " not in text:
        return text
    return _SPACE.sub(" ", _INVISIBLE.sub("", text))


def clean_text(value: Any, limit: int = MAX_TEXT) -> str:
    """Text from another site, fit to show: invisible characters gone, spaces collapsed, short."""
    if not isinstance(value, str) or not value:
        return ""
    text = _squeeze(value).strip()
    if len(text) > limit:
        text = text[: max(0, limit - 1)].rstrip() + "…"
    return text


def safe_url(value: Any) -> str | None:
    """An http(s) URL fit for ``href``/``src`` (hosts in punycode, unsafe bytes quoted), or ``None``.

    ``javascript:``, ``data:``, scheme-relative, credentials, control characters and
    whitespace tricks ("java\\tscript:") are all refused rather than repaired.

    >>> safe_url("javascript:alert(1)") is None
    True
    """
    if not isinstance(value, str) or not value or len(value) > MAX_URL:
        return None
    if _PLAIN_URL.match(value):
        return value
    if _INVISIBLE.search(value) or _SPACE.search(value.strip()):
        return None
    base, _, fragment = value.strip().partition("#")
    normalized = urls.normalize_url(base, drop_params=())
    if normalized is None:
        return None
    if fragment:
        normalized += "#" + quote(fragment, safe="/?:@!$&'()*+,;=%-._~")
    return normalized


def _host_name(url: str) -> str:
    """The host of a URL :func:`safe_url` returned, for people: Unicode, without ``www.``."""
    host = urls.host_of(url)
    if host.startswith("xn--") or ".xn--" in host:
        try:
            host = host.encode("ascii").decode("idna")
        except UnicodeError:
            pass
    return host[4:] if host.startswith("www.") else host


def _parse_date(value: Any) -> dt.date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.datetime.fromisoformat(value.strip()).date()
    except ValueError:
        pass
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def _blurb(row: Mapping[str, Any], limit: int) -> tuple[str, str, str]:
    """(before, linking text, after), cleaned and cut to about ``limit`` around the link."""
    blurb = row.get("blurb")
    if not isinstance(blurb, str) or not blurb:
        return "", "", ""
    start, end = row.get("blurb_start"), row.get("blurb_end")
    if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(blurb):
        before, mark, after = blurb[:start], blurb[start:end], blurb[end:]
    else:
        before, mark, after = blurb, "", ""

    before, mark, after = _squeeze(before).lstrip(), _squeeze(mark), _squeeze(after).rstrip()
    if not mark.strip():
        return clean_text(before + mark + after, limit), "", ""
    if len(mark) > limit // 2:
        mark = mark[: max(1, limit // 2 - 1)] + "…"
    room = max(0, limit - len(mark))
    keep_after = min(len(after), max(room // 2, room - len(before)))
    keep_before = min(len(before), room - keep_after)
    if keep_before < len(before):
        before = "…" + before[len(before) - keep_before + 1 :] if keep_before > 1 else ""
    if keep_after < len(after):
        after = after[: max(0, keep_after - 1)] + "…" if keep_after > 1 else ""
    return before, mark, after


# --- entries ----------------------------------------------------------------------------------


def entry(row: Mapping[str, Any], options: DisplayOptions) -> dict[str, Any]:
    """One linkback as cleaned, JSON-ready data: the display's only view of a row."""
    url = safe_url(row.get("permalink")) or safe_url(row.get("source"))
    host = _host_name(url) if url else ""
    kind = row.get("kind") if row.get("kind") in KINDS else "referrer"
    site_name = clean_text(row.get("site_name"), 80)
    if kind == "discussion" and url:
        # Aggregators often name themselves by host alone ("news.ycombinator.com").
        site_name = DISCUSSION_SITES.get(urls.host_of(url)) or site_name
    title = clean_text(row.get("title")) or site_name or host
    date = _parse_date(row.get("published")) or _parse_date(row.get("first_seen"))
    before, mark, after = _blurb(row, options.max_blurb)
    visitors = row.get("visitors") or 0
    item: dict[str, Any] = {
        "kind": kind,
        "url": url,
        "title": title,
        "site_name": site_name or host,
        "author_name": clean_text(row.get("author_name"), 80) or None,
        "author_url": safe_url(row.get("author_url")),
        "published": date.isoformat() if date else None,
        "blurb": before + mark + after,
        "highlight": [len(before), len(before) + len(mark)] if mark else None,
        "visitors": int(round(visitors)) if kind == "referrer" and visitors >= 1 else None,
        "points": row.get("points") if isinstance(row.get("points"), int) else None,
        "comments": row.get("comments") if isinstance(row.get("comments"), int) else None,
    }
    if options.show_images:
        item["favicon"] = safe_url(row.get("favicon"))
        item["author_photo"] = safe_url(row.get("author_photo"))
    return item


def _esc(text: str) -> str:
    """HTML-escape text from outside (as :func:`markupsafe.escape`, without making ``Markup``)."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("'", "&#39;"))


def _format_date(iso: str, options: DisplayOptions) -> str:
    date = dt.date.fromisoformat(iso)
    if options.date_format:
        return date.strftime(options.date_format)
    return "%d %s %d" % (date.day, _MONTHS[date.month - 1], date.year)


def _link_attrs(options: DisplayOptions) -> str:
    rel = options.rel
    if options.new_tab:
        rel = (rel + " noopener").strip()
        return ' rel="%s" target="_blank"' % escape(rel) if rel else ' target="_blank"'
    return ' rel="%s"' % escape(rel) if rel else ""


def _link(url: str | None, text: str, css: str, attrs: str) -> str:
    """A link when the URL is safe, else plain text; ``css`` and ``attrs`` are ours, not input."""
    if url is None:
        css = css.replace("u-url", "").strip().replace("  ", " ")
        return '<span class="%s"%s>%s</span>' % (css, ' dir="auto"' if "dir=" in attrs else "", _esc(text))
    return '<a class="%s" href="%s"%s>%s</a>' % (css, _esc(url), attrs, _esc(text))


def entry_html(item: Mapping[str, Any], options: DisplayOptions, attrs: str) -> str:
    """One ``<li>``, marked up as an h-cite so microformats readers can take it."""
    parts = ['<li class="linkbacks__item linkbacks__item--%s h-cite">' % item["kind"]]
    if options.show_images and item.get("favicon"):
        parts.append(
            '<img class="linkbacks__favicon" src="%s" alt="" width="16" height="16"'
            ' loading="lazy" referrerpolicy="no-referrer">' % _esc(item["favicon"])
        )
    parts.append(_link(item["url"], item["title"], "linkbacks__title u-url p-name", attrs + ' dir="auto"'))
    meta = ['<span class="linkbacks__site" dir="auto">%s</span>' % _esc(item["site_name"])]
    if options.show_author and item["author_name"]:
        meta.append(
            '<span class="linkbacks__author p-author h-card" dir="auto">%s</span>'
            % _link(item["author_url"], item["author_name"], "p-name u-url", attrs)
        )
    if options.show_date and item["published"]:
        meta.append(
            '<time class="linkbacks__date dt-published" datetime="%s">%s</time>'
            % (item["published"], _esc(_format_date(item["published"], options)))
        )
    if options.show_visitors and item["visitors"]:
        n = item["visitors"]
        meta.append(
            '<span class="linkbacks__visitors">%s</span>'
            % _esc(options.label("visitor") if n == 1 else options.label("visitors", n))
        )
    parts.append('<span class="linkbacks__meta">%s</span>' % '<span aria-hidden="true"> · </span>'.join(meta))
    if options.show_blurb and item["blurb"]:
        text = item["blurb"]
        if item["highlight"]:
            start, end = item["highlight"]
            blurb = '%s<mark class="linkbacks__mark">%s</mark>%s' % (
                _esc(text[:start]), _esc(text[start:end]), _esc(text[end:])
            )
        else:
            blurb = _esc(text)
        parts.append('<p class="linkbacks__blurb p-content" dir="auto">%s</p>' % blurb)
    parts.append("</li>")
    return "".join(parts)


def badge_html(item: Mapping[str, Any], options: DisplayOptions, attrs: str) -> str:
    """A discussion badge: "Discussed on Hacker News · 120 points · 45 comments"."""
    bits = ['<span class="linkbacks__badge-site">%s</span>'
            % _esc(options.label("discussed_on", site=item["site_name"]))]
    for name in ("points", "comments"):
        n = item.get(name)
        if isinstance(n, int) and n >= 0:
            bits.append('<span class="linkbacks__badge-%s">%s</span>' % (
                name, _esc(options.label(name[:-1]) if n == 1 else options.label(name, n))
            ))
    inner = '<span aria-hidden="true"> · </span>'.join(bits)
    if item["url"] is None:
        return '<span class="linkbacks__badge">%s</span>' % inner
    return '<a class="linkbacks__badge" href="%s"%s>%s</a>' % (_esc(item["url"]), attrs, inner)


def block_html(
    entries: list[dict[str, Any]],
    discussions: list[dict[str, Any]],
    options: DisplayOptions,
    stylesheet_href: str | None = None,
) -> Markup:
    """The whole block; empty ``Markup`` when nothing is listed and ``empty`` is ``None``."""
    if not entries and not discussions and options.empty is None:
        return Markup("")
    attrs = _link_attrs(options)
    parts = ['<section class="linkbacks" data-count="%d">' % len(entries)]
    if stylesheet_href and options.stylesheet:
        parts.append('<link rel="stylesheet" href="%s">' % escape(stylesheet_href))
    if options.heading:
        parts.append('<h%d class="linkbacks__heading">%s</h%d>'
                     % (options.heading_level, escape(options.heading), options.heading_level))
    if discussions:
        parts.append('<p class="linkbacks__discussions">%s</p>'
                     % " ".join(badge_html(d, options, attrs) for d in discussions))
    if entries:
        parts.append('<ol class="linkbacks__list">')
        parts.extend(entry_html(item, options, attrs) for item in entries)
        parts.append("</ol>")
    elif options.empty:
        parts.append('<p class="linkbacks__empty">%s</p>' % escape(options.empty))
    parts.append("</section>")
    return Markup("".join(parts))


def discussions_html(
    discussions: list[dict[str, Any]], options: DisplayOptions, stylesheet_href: str | None = None
) -> Markup:
    """Only the badges, in a ``div.linkbacks.linkbacks--discussions``; empty when none."""
    if not discussions:
        return Markup("")
    attrs = _link_attrs(options)
    link = ""
    if stylesheet_href and options.stylesheet:
        link = '<link rel="stylesheet" href="%s">' % escape(stylesheet_href)
    return Markup('<div class="linkbacks linkbacks--discussions">%s<p class="linkbacks__discussions">%s</p></div>'
                  % (link, " ".join(badge_html(d, options, attrs) for d in discussions)))


# --- the cache and the renderer ---------------------------------------------------------------


@dataclass
class Listing:
    """What one page shows: its normalised URL, the options applied and the entries."""

    url: str | None
    options: DisplayOptions
    entries: list[dict[str, Any]]
    discussions: list[dict[str, Any]]


class Renderer:
    """Renders and caches the blocks of one database.

    :param store: the :class:`Store`, or a callable returning it (the middleware's, which
        changes after a fork).
    :param defaults: display options of this application; stored per-site options win over
        them and per-call options over both.
    :param drop_params: query parameters that never make a different page (as the capture).
    :param keep_params: parameters kept even when ``drop_params`` match them.
    :param stylesheet_href: where the default stylesheet is served, linked from each block.
    """

    def __init__(
        self,
        store: Store | Callable[[], Store],
        *,
        defaults: Mapping[str, Any] | None = None,
        drop_params: Iterable[str] = urls.TRACKING_PARAMS,
        keep_params: Iterable[str] = (),
        stylesheet_href: str | None = None,
        cache_size: int = CACHE_SIZE,
        ttl: float = CACHE_TTL,
    ) -> None:
        self._store = store
        self.defaults = validate_options(defaults or {})
        self.drop_params = tuple(drop_params)
        self.keep_params = tuple(keep_params)
        self.stylesheet_href = stylesheet_href
        self.cache_size = cache_size
        self.ttl = ttl
        self._cache: collections.OrderedDict[Hashable, tuple[int, float, Any]] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0
        self._local = threading.local()
        self._site_options: tuple[int, dict[str, dict[str, Any]]] | None = None

    @property
    def store(self) -> Store:
        store = self._store
        return store if isinstance(store, Store) else store()

    # cache

    def _generation_now(self) -> int:
        """The cache generation, after dropping everything if the database changed."""
        store = self.store
        token = (id(store), *store.change_token())
        if getattr(self._local, "token", None) != token:
            # This thread's connection saw a commit since its last look (or is new and has
            # no baseline): whatever was rendered before may be stale.
            self._local.token = token
            with self._lock:
                self._generation += 1
                self._cache.clear()
                self._site_options = None
        return self._generation

    def _cached(self, key: Hashable, build: Callable[[], Any]) -> Any:
        generation = self._generation_now()
        found = self._cache.get(key)
        now = time.monotonic()
        if found is not None and found[0] == generation and found[1] > now:
            return found[2]
        value = build()
        with self._lock:
            # A block built from a snapshot older than a change another thread has since
            # noticed must not be stored under the new generation.
            if self._generation == generation:
                self._cache[key] = (generation, now + self.ttl, value)
                self._cache.move_to_end(key)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every cached block."""
        with self._lock:
            self._generation += 1
            self._cache.clear()
            self._site_options = None

    # reading

    def options_for(self, url: str | None, overrides: Mapping[str, Any]) -> DisplayOptions:
        """Defaults, then the page's site's stored options, then ``overrides``."""
        site_options: Mapping[str, Any] = {}
        if url is not None:
            generation = self._generation
            cached = self._site_options
            if cached is not None and cached[0] == generation:
                table = cached[1]
            else:
                table = self.store.display_settings()
                with self._lock:
                    if self._generation == generation:  # as in _cached: no stale table
                        self._site_options = (generation, table)
            host = urls.host_of(url)
            for site, stored in table.items():
                if stored and (host == site or host.endswith("." + site)):
                    site_options = stored
                    break
        return resolve_options(self.defaults, site_options, overrides, strict=(True, False, True))

    def normalize(self, target_url: str) -> str | None:
        return urls.normalize_url(target_url, drop_params=self.drop_params, keep_params=self.keep_params)

    def listing(self, target_url: str, **options: Any) -> Listing:
        """The entries and discussions one page shows (uncached; :meth:`render` caches)."""
        url = self.normalize(target_url) if isinstance(target_url, str) else None
        opts = self.options_for(url, options)
        if url is None:
            return Listing(None, opts, [], [])
        store = self.store
        since = None
        if opts.max_age is not None:
            since = isotime(utcnow() - dt.timedelta(days=opts.max_age))
        kinds = [k for k in opts.kinds if k != "discussion"]
        rows = store.displayed_linkbacks(
            url, kinds=kinds, seen_since=since, min_visitors=opts.min_visitors,
            min_value=opts.min_value, order=opts.order, limit=opts.limit,
        ) if kinds else []
        discussions = []
        if "discussion" in opts.kinds:
            discussions = [
                entry(row, opts) for row in store.displayed_linkbacks(
                    url, kinds=("discussion",), seen_since=since, order="points",
                    limit=MAX_DISCUSSIONS,
                )
            ]
        return Listing(url, opts, [entry(row, opts) for row in rows], discussions)

    def render(self, target_url: str, **options: Any) -> Markup:
        """The linkbacks block of ``target_url``; see :func:`linkback.render`."""
        return self._safely(("block", target_url, _key(options)), lambda: self._block(target_url, options))

    def render_discussions(self, target_url: str, **options: Any) -> Markup:
        """Only the discussion badges of ``target_url``."""
        def build() -> Markup:
            listing = self.listing(target_url, **dict(options, kinds=("discussion",)))
            return discussions_html(listing.discussions, listing.options, self.stylesheet_href)

        return self._safely(("discussions", target_url, _key(options)), build)

    def cached(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """Cache any value derived from the database under ``key`` (the JSON API's bodies)."""
        return self._cached(key, build)

    def _block(self, target_url: str, options: Mapping[str, Any]) -> Markup:
        listing = self.listing(target_url, **options)
        discussions = listing.discussions if listing.options.discussions else []
        return block_html(listing.entries, discussions, listing.options, self.stylesheet_href)

    def _safely(self, key: Hashable, build: Callable[[], Markup]) -> Markup:
        try:
            return self._cached(key, build)
        except ConfigError:
            raise
        except (LinkbackError, sqlite3.Error, OSError) as e:
            # A template helper must never take the page down with it: a locked or
            # unreadable database shows no block, and says so in the log.
            logger.warning("linkback: cannot render linkbacks: %s", e)
            return Markup("")


def _key(options: Mapping[str, Any]) -> Hashable:
    if not options:
        return ()
    items = []
    for name, value in sorted(options.items()):
        if isinstance(value, (list, set, frozenset, dict)):
            value = repr(sorted(value.items()) if isinstance(value, dict) else sorted(value))
        items.append((name, value))
    return tuple(items)


# --- module-level API -------------------------------------------------------------------------

_renderers: dict[str, Renderer] = {}
_renderers_lock = threading.Lock()


def renderer_for(database: str | os.PathLike[str]) -> Renderer:
    """The process's renderer of a database file (one cache per file)."""
    path = os.path.abspath(os.fspath(database))
    found = _renderers.get(path)
    if found is None:
        with _renderers_lock:
            found = _renderers.get(path)
            if found is None:
                found = _renderers[path] = Renderer(Store(path))
    return found


def render(target_url: str, database: str | os.PathLike[str] = "linkback.db", **display_options: Any) -> Markup:
    """The linkbacks block of one page, as ``Markup`` safe to put in any template.

    :param target_url: the page's URL, as the reader requested it (normalised here).
    :param database: the SQLite file the middleware writes.
    :param display_options: any field of :class:`DisplayOptions`, e.g. ``limit=10``,
        ``order="newest"``, ``kinds=["webmention"]``, ``empty="No links yet."``.
    :raises ConfigError: for an unknown or wrong option.

    >>> render("https://example.com/post", database="site.db", limit=5)  # doctest: +SKIP
    Markup('<section class="linkbacks" ...')
    """
    return renderer_for(database).render(target_url, **display_options)


def render_discussions(
    target_url: str, database: str | os.PathLike[str] = "linkback.db", **display_options: Any
) -> Markup:
    """Badges for the aggregator discussions of one page ("Discussed on Hacker News · …")."""
    return renderer_for(database).render_discussions(target_url, **display_options)


_stylesheet: Markup | None = None


def stylesheet() -> Markup:
    """The default stylesheet's text, for ``<style>{{ linkback.stylesheet() }}</style>``."""
    global _stylesheet
    if _stylesheet is None:
        text = resources.files("linkback").joinpath("static/linkbacks.css").read_text("utf-8")
        _stylesheet = Markup(text)
    return _stylesheet


__all__ = [
    "DisplayOptions", "LABELS", "Listing", "Renderer", "clean_text", "entry", "render",
    "render_discussions", "renderer_for", "safe_url", "stylesheet", "validate_options",
]
