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

Cleaned and rendered entries are cached apart (:data:`ENTRY_CACHE_SIZE`), keyed by the
values of the row each was made from and by the options: never stale, so they outlive the
blocks, and a block emptied by a change elsewhere is rebuilt without cleaning its entries again.
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
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
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
#: Entries kept cleaned and rendered per process (about 2 KB each), keyed by the values of
#: their row: when a change anywhere empties the block cache, blocks are rebuilt from these
#: and only the linkbacks whose shown values changed are cleaned and escaped again.
ENTRY_CACHE_SIZE = 4096
#: Distinct option sets whose entries are kept; past this the entry cache starts afresh
#: (callers varying options per call must not grow it without bound).
MAX_OPTION_SETS = 64
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

#: The columns an entry is made from (:func:`entry`), in order; the images' only with
#: ``show_images``. An entry is a function of these values and the options alone.
ENTRY_COLUMNS = (
    "kind", "source", "permalink", "title", "site_name", "author_name", "author_url",
    "published", "first_seen", "blurb", "blurb_start", "blurb_end", "visitors", "points",
    "comments",
)
IMAGE_COLUMNS = ("favicon", "author_photo")
_ROW_COLUMNS = ENTRY_COLUMNS + IMAGE_COLUMNS

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
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not low <= value <= high):
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
    # _squeeze inlined: this runs for three fields of every entry.
    if value.isprintable() and "  " not in value:
        text = value.strip()
    else:
        text = _SPACE.sub(" ", _INVISIBLE.sub("", value)).strip()
    if len(text) > limit:
        text = text[: max(0, limit - 1)].rstrip() + "…"
    return text


def safe_url(value: Any) -> str | None:
    """An http(s) URL fit for ``href``/``src`` (hosts in punycode, unsafe bytes quoted) or ``None``.

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
        normalized += "#" + quote(fragment, safe="/?:@!$&()*+,;=%-._~")  # no quote: an attribute stays shut
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


def _iso_date(value: Any) -> str | None:
    """The day of an ISO date or time as ``YYYY-MM-DD`` (as written, no zone conversion)."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.datetime.fromisoformat(value.strip()).date().isoformat()
    except ValueError:
        pass
    try:
        return dt.date.fromisoformat(value.strip()[:10]).isoformat()
    except ValueError:
        return None


def _blurb(blurb: Any, start: Any, end: Any, limit: int) -> tuple[str, list[int] | None]:
    """The blurb cleaned and cut to about ``limit`` around the linking text, and where that
    text is in it (``[start, end]``, or ``None`` when there is none)."""
    if not isinstance(blurb, str) or not blurb:
        return "", None
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(blurb)):
        return clean_text(blurb, limit), None
    if (blurb.isprintable() and "  " not in blurb and len(blurb) <= limit
            and end - start <= limit // 2 and blurb[0] != " " and blurb[-1] != " "
            and (end - start > 1 or blurb[start] != " ")):
        # Nothing to clean, trim or cut, and the mark is not blank (the only white space
        # printable text holds is single spaces): most blurbs.
        return blurb, [start, end]
    before, mark, after = blurb[:start], blurb[start:end], blurb[end:]
    # Squeezed apart, not whole: a run of spaces across the mark's edge must not move it.
    before, mark, after = _squeeze(before).lstrip(), _squeeze(mark), _squeeze(after).rstrip()
    if not mark.strip():
        return clean_text(before + mark + after, limit), None
    if len(mark) > limit // 2:
        mark = mark[: max(1, limit // 2 - 1)] + "…"
    room = max(0, limit - len(mark))
    keep_after = min(len(after), max(room // 2, room - len(before)))
    keep_before = min(len(before), room - keep_after)
    if keep_before < len(before):
        before = "…" + before[len(before) - keep_before + 1 :] if keep_before > 1 else ""
    if keep_after < len(after):
        after = after[: max(0, keep_after - 1)] + "…" if keep_after > 1 else ""
    return before + mark + after, [len(before), len(before) + len(mark)]


# --- entries ----------------------------------------------------------------------------------


def entry(row: Mapping[str, Any], options: DisplayOptions) -> dict[str, Any]:
    """One linkback as cleaned, JSON-ready data: the display's only view of a row.

    :param row: the linkback's columns (:data:`ENTRY_COLUMNS`, :data:`IMAGE_COLUMNS`);
        missing ones count as empty.
    """
    get = row.get
    return _entry(options, *[get(name) for name in _ROW_COLUMNS])


def _entry(
    options: DisplayOptions, kind: Any, source: Any, permalink: Any, title: Any, site_name: Any,
    author_name: Any, author_url: Any, published: Any, first_seen: Any, blurb: Any,
    blurb_start: Any, blurb_end: Any, visitors: Any, points: Any, comments: Any,
    favicon: Any = None, author_photo: Any = None,
) -> dict[str, Any]:
    """:func:`entry` from the row's values, in :data:`ENTRY_COLUMNS` order (no dict per row)."""
    url = safe_url(permalink) or safe_url(source)
    if kind not in KINDS:
        kind = "referrer"
    # clean_text's usual case inline (text already clean and short enough): this runs for
    # three fields of every entry.
    if (site_name.__class__ is str and len(site_name) <= 80 and site_name.isprintable()
            and "  " not in site_name):
        site_name = site_name.strip()
    else:
        site_name = clean_text(site_name, 80)
    if (title.__class__ is str and len(title) <= MAX_TEXT and title.isprintable()
            and "  " not in title):
        title = title.strip()
    else:
        title = clean_text(title)
    if (author_name.__class__ is str and len(author_name) <= 80 and author_name.isprintable()
            and "  " not in author_name):
        author_name = author_name.strip()
    else:
        author_name = clean_text(author_name, 80)
    if kind == "discussion" and url:
        # Aggregators often name themselves by host alone ("news.ycombinator.com").
        site_name = DISCUSSION_SITES.get(urls.host_of(url)) or site_name
    if not site_name and url:
        site_name = _host_name(url)
    blurb, highlight = _blurb(blurb, blurb_start, blurb_end, options.max_blurb)
    visitors = visitors or 0
    item: dict[str, Any] = {
        "kind": kind,
        "url": url,
        "title": title or site_name,
        "site_name": site_name,
        "author_name": author_name or None,
        "author_url": safe_url(author_url) if author_url else None,
        "published": _iso_date(published) or _iso_date(first_seen),
        "blurb": blurb,
        "highlight": highlight,
        "visitors": int(round(visitors)) if kind == "referrer" and visitors >= 1 else None,
        "points": points if isinstance(points, int) else None,
        "comments": comments if isinstance(comments, int) else None,
    }
    if options.show_images:
        item["favicon"] = safe_url(favicon)
        item["author_photo"] = safe_url(author_photo)
    return item


def _esc(text: str) -> str:
    """HTML-escape text from outside (as :func:`markupsafe.escape`, without making ``Markup``)."""
    # A membership test costs a tenth of a replace() that finds nothing, and most text has
    # none of the five characters.
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if '"' in text:
        text = text.replace('"', "&#34;")
    if "'" in text:
        text = text.replace("'", "&#39;")
    return text


def _esc_all(*texts: str) -> Sequence[str]:
    """Each text HTML-escaped, in one pass over them all rather than one call per text.

    Escaping maps each character on its own, so escaping the texts joined by NUL and
    splitting again gives each text escaped, unless a text held a NUL itself: then there
    are more parts than texts and each is escaped alone. (Cleaned text never holds one.)
    """
    joined = "\0".join(texts)
    escaped = _esc(joined)
    if escaped is joined:  # nothing to escape
        return texts
    parts = escaped.split("\0")
    return parts if len(parts) == len(texts) else [_esc(text) for text in texts]


def _link_attrs(options: DisplayOptions) -> str:
    rel = options.rel
    if options.new_tab:
        rel = (rel + " noopener").strip()
        return ' rel="%s" target="_blank"' % escape(rel) if rel else ' target="_blank"'
    return ' rel="%s"' % escape(rel) if rel else ""


_SEPARATOR = '<span aria-hidden="true"> · </span>'


def entry_writer(
    options: DisplayOptions, attrs: str | None = None
) -> Callable[[Mapping[str, Any]], str]:
    """A function giving the ``<li>`` of an :func:`entry` under ``options``.

    What depends on the options alone (link attributes, labels, switches, the date format)
    is worked out here once, so a block of many entries does per entry only one escaping
    pass and a few f-strings. Every text and URL of the item is escaped.

    :param attrs: the links' extra attributes (default: ``rel`` and ``target`` from ``options``).

    >>> write = entry_writer(DisplayOptions())
    >>> write(entry({"source": "https://a.example/p", "title": "<b>"}, DisplayOptions()))[:38]
    '<li class="linkbacks__item linkbacks__'
    """
    if attrs is None:
        attrs = _link_attrs(options)
    show_images, show_author = options.show_images, options.show_author
    show_date, show_visitors = options.show_date, options.show_visitors
    show_blurb = options.show_blurb
    date_format = options.date_format
    one_visitor = _esc(options.label("visitor"))
    many_visitors = dict(options.labels).get("visitors", LABELS["visitors"])
    author_dir = ' dir="auto"' if "dir=" in attrs else ""
    # Days and visitor counts repeat within a block: each is formatted once.
    dates: dict[str, str] = {}
    counts: dict[Any, str] = {}

    def write(item: Mapping[str, Any]) -> str:
        url, author, author_url = item["url"], item["author_name"], item["author_url"]
        blurb, highlight = item["blurb"] if show_blurb else "", item["highlight"]
        start, end = highlight if blurb and highlight else (0, 0)
        url, title, site, author, author_url, before, mark, after = _esc_all(
            url or "", item["title"], item["site_name"], author or "", author_url or "",
            blurb[:start], blurb[start:end], blurb[end:],
        )
        if url:
            head = (f'<a class="linkbacks__title u-url p-name" href="{url}"{attrs} dir="auto">'
                    f"{title}</a>")
        else:
            head = f'<span class="linkbacks__title p-name" dir="auto">{title}</span>'
        if show_images and item.get("favicon"):
            favicon = _esc(item["favicon"])
            head = (f'<img class="linkbacks__favicon" src="{favicon}" alt="" width="16" height="16"'
                    f' loading="lazy" referrerpolicy="no-referrer">{head}')
        meta = ""
        if show_author and author:
            if author_url:
                author = f'<a class="p-name u-url" href="{author_url}"{attrs}>{author}</a>'
            else:
                author = f'<span class="p-name"{author_dir}>{author}</span>'
            meta = (f'{_SEPARATOR}<span class="linkbacks__author p-author h-card" dir="auto">'
                    f"{author}</span>")
        published = item["published"]
        if show_date and published:
            shown = dates.get(published)
            if shown is None:
                # fromisoformat also refuses anything but a date before it reaches the attribute.
                day = dt.date.fromisoformat(published)
                text = (_esc(day.strftime(date_format)) if date_format
                        else f"{day.day} {_MONTHS[day.month - 1]} {day.year}")
                shown = dates[published] = (
                    f'{_SEPARATOR}<time class="linkbacks__date dt-published"'
                    f' datetime="{published}">{text}</time>'
                )
            meta += shown
        n = item["visitors"]
        if show_visitors and n:
            shown = counts.get(n)
            if shown is None:
                text = one_visitor if n == 1 else _esc(
                    many_visitors.replace("{n}", f"{n:,}").replace("{site}", "")
                )
                shown = counts[n] = f'{_SEPARATOR}<span class="linkbacks__visitors">{text}</span>'
            meta += shown
        if not blurb:
            pass
        elif highlight:
            blurb = (f'<p class="linkbacks__blurb p-content" dir="auto">{before}'
                     f'<mark class="linkbacks__mark">{mark}</mark>{after}</p>')
        else:
            blurb = f'<p class="linkbacks__blurb p-content" dir="auto">{after}</p>'
        return (f'<li class="linkbacks__item linkbacks__item--{item["kind"]} h-cite">{head}'
                f'<span class="linkbacks__meta"><span class="linkbacks__site" dir="auto">'
                f"{site}</span>{meta}</span>{blurb}</li>")

    return write


def entry_html(item: Mapping[str, Any], options: DisplayOptions, attrs: str | None = None) -> str:
    """One ``<li>``, marked up as an h-cite so microformats readers can take it.

    :param attrs: the links' extra attributes (default: ``rel`` and ``target`` from ``options``).
        For many entries, :func:`entry_writer` does the per-options work once.
    """
    return entry_writer(options, attrs)(item)


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
    write = entry_writer(options)
    return _block_markup([write(item) for item in entries], discussions, options, stylesheet_href)


def _block_markup(
    items: list[str],
    discussions: list[dict[str, Any]],
    options: DisplayOptions,
    stylesheet_href: str | None,
) -> Markup:
    """The block around entries already rendered (``items``: one ``<li>`` each)."""
    if not items and not discussions and options.empty is None:
        return Markup("")
    attrs = _link_attrs(options)
    parts = ['<section class="linkbacks" data-count="%d">' % len(items)]
    if stylesheet_href and options.stylesheet:
        parts.append('<link rel="stylesheet" href="%s">' % escape(stylesheet_href))
    if options.heading:
        parts.append('<h%d class="linkbacks__heading">%s</h%d>'
                     % (options.heading_level, escape(options.heading), options.heading_level))
    if discussions:
        parts.append('<p class="linkbacks__discussions">%s</p>'
                     % " ".join(badge_html(d, options, attrs) for d in discussions))
    if items:
        parts.append('<ol class="linkbacks__list">')
        parts.extend(items)
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
    return Markup('<div class="linkbacks linkbacks--discussions">%s'
                  '<p class="linkbacks__discussions">%s</p></div>'
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
    :param cache_size: rendered blocks kept.
    :param ttl: seconds a block is kept when nothing it shows changes.
    :param entry_cache_size: cleaned and rendered entries kept (0: none), see
        :data:`ENTRY_CACHE_SIZE`.
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
        entry_cache_size: int = ENTRY_CACHE_SIZE,
    ) -> None:
        self._store = store
        self.defaults = validate_options(defaults or {})
        self.drop_params = tuple(drop_params)
        self.keep_params = tuple(keep_params)
        self.stylesheet_href = stylesheet_href
        self.cache_size = cache_size
        self.ttl = ttl
        self._cache: collections.OrderedDict[Hashable, tuple[int, float, Any]] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()
        self._generation = 0
        self._local = threading.local()
        self._site_options: tuple[int, dict[str, dict[str, Any]]] | None = None
        self.entry_cache_size = entry_cache_size
        # (option set number, row values) -> (entry, its <li> or None). Keyed by every value
        # an entry is made from, so never stale: only dropped for room.
        self._entries: dict[tuple[int, tuple[Any, ...]], tuple[dict[str, Any], str | None]] = {}
        # Numbers only ever grow, so a number taken before the cache started afresh can
        # never stand for another option set afterwards.
        self._option_sets: dict[DisplayOptions, int] = {}
        self._option_set_count = 0

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

    def clear(self, *, entries: bool = True) -> None:
        """Forget every cached block and, unless ``entries`` is false, every cached entry."""
        with self._lock:
            self._generation += 1
            self._cache.clear()
            self._site_options = None
            if entries:
                self._entries.clear()
                self._option_sets.clear()

    def _entries_of(
        self, rows: list[tuple[Any, ...]], options: DisplayOptions, html: bool
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """The entries of ``rows`` (values in :data:`ENTRY_COLUMNS` order) and, with ``html``,
        their ``<li>``, through the entry cache."""
        write = entry_writer(options) if html else None
        if self.entry_cache_size <= 0:
            items = [_entry(options, *row) for row in rows]
            return items, [write(item) for item in items] if write else []
        number = self._option_sets.get(options)
        if number is None:
            with self._lock:
                if len(self._option_sets) >= MAX_OPTION_SETS:
                    self._option_sets.clear()
                    self._entries.clear()
                number = self._option_sets.get(options)
                if number is None:
                    number = self._option_sets[options] = self._option_set_count
                    self._option_set_count += 1
        cache = self._entries
        get = cache.get
        items: list[dict[str, Any]] = []
        markup: list[str] = []
        new: dict[tuple[int, tuple[Any, ...]], tuple[dict[str, Any], str | None]] = {}
        for row in rows:
            # The row's values are the key: an entry is made from them and the options alone.
            key = (number, row)
            found = get(key)
            if found is None:
                item = _entry(options, *row)
                found = new[key] = (item, write(item) if write else None)
            elif write and found[1] is None:
                found = new[key] = (found[0], write(found[0]))
            items.append(found[0])
            if write:
                markup.append(found[1])
        if new:
            with self._lock:
                cache.update(new)
                for _ in range(len(cache) - self.entry_cache_size):
                    del cache[next(iter(cache))]  # the oldest
        return items, markup

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
        return urls.normalize_url(
            target_url, drop_params=self.drop_params, keep_params=self.keep_params
        )

    def listing(self, target_url: str, **options: Any) -> Listing:
        """The entries and discussions one page shows (read now; :meth:`render` caches blocks)."""
        listing, _ = self._listing(target_url, options, html=False)
        # Copies: the entries themselves stay in the entry cache, shared by later blocks.
        listing.entries = [dict(item) for item in listing.entries]
        return listing

    def _listing(
        self, target_url: str, options: Mapping[str, Any], html: bool
    ) -> tuple[Listing, list[str]]:
        url = self.normalize(target_url) if isinstance(target_url, str) else None
        opts = self.options_for(url, options)
        if url is None:
            return Listing(None, opts, [], []), []
        store = self.store
        since = None
        if opts.max_age is not None:
            since = isotime(utcnow() - dt.timedelta(days=opts.max_age))
        kinds = [k for k in opts.kinds if k != "discussion"]
        columns = ENTRY_COLUMNS + IMAGE_COLUMNS if opts.show_images else ENTRY_COLUMNS
        rows = store.displayed_linkbacks(
            url, kinds=kinds, seen_since=since, min_visitors=opts.min_visitors,
            min_value=opts.min_value, order=opts.order, limit=opts.limit, columns=columns,
            tuples=True,
        ) if kinds else []
        discussions = []
        if "discussion" in opts.kinds:
            discussions = [
                _entry(opts, *row) for row in store.displayed_linkbacks(
                    url, kinds=("discussion",), seen_since=since, order="points",
                    limit=MAX_DISCUSSIONS, columns=columns, tuples=True,
                )
            ]
        items, markup = self._entries_of(rows, opts, html)
        return Listing(url, opts, items, discussions), markup

    def render(self, target_url: str, **options: Any) -> Markup:
        """The linkbacks block of ``target_url``; see :func:`linkback.render`."""
        return self._safely(
            ("block", target_url, _key(options)), lambda: self._block(target_url, options)
        )

    def render_discussions(self, target_url: str, **options: Any) -> Markup:
        """Only the discussion badges of ``target_url``."""
        def build() -> Markup:
            listing, _ = self._listing(target_url, dict(options, kinds=("discussion",)), html=False)
            return discussions_html(listing.discussions, listing.options, self.stylesheet_href)

        return self._safely(("discussions", target_url, _key(options)), build)

    def cached(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """Cache any value derived from the database under ``key`` (the JSON API's bodies)."""
        return self._cached(key, build)

    def _block(self, target_url: str, options: Mapping[str, Any]) -> Markup:
        listing, markup = self._listing(target_url, options, html=True)
        discussions = listing.discussions if listing.options.discussions else []
        return _block_markup(markup, discussions, listing.options, self.stylesheet_href)

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


def render(
    target_url: str, database: str | os.PathLike[str] = "linkback.db", **display_options: Any
) -> Markup:
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
    "DisplayOptions", "LABELS", "Listing", "Renderer", "clean_text", "entry", "entry_writer",
    "render", "render_discussions", "renderer_for", "safe_url", "stylesheet", "validate_options",
]
