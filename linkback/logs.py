"""Backfilling from web server access logs (Apache/nginx "combined" format)."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from .filters import Accepted, HitFilter
from .store import Store, utcnow
from .writer import Aggregator, ephemeral_salts

#: ``host ident user [time] "request" status bytes "referer" "user agent"``
COMBINED = re.compile(
    r'(?P<addr>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) \S+'
    r' "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)"'
)

#: Paths with these endings are assets, not pages: logs do not say the content type.
ASSET_SUFFIXES = (
    ".css", ".js", ".mjs", ".map", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".svg",
    ".ico", ".woff", ".woff2", ".ttf", ".otf", ".eot", ".mp4", ".webm", ".mp3", ".ogg", ".pdf",
    ".zip", ".gz", ".xml", ".json", ".txt", ".rss", ".atom",
)

#: Accepted hits held in memory before they are written.
FLUSH_EVERY = 50_000


@dataclass
class ImportSummary:
    lines: int = 0
    counted: int = 0
    new_linkbacks: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


def open_log(path: str) -> IO[bytes]:
    """Open a log file, plain or gzip-compressed (by its magic bytes, not its name)."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def parse_time(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text, "%d/%b/%Y:%H:%M:%S %z")
    except ValueError:
        return None


def import_log(
    store: Store,
    stream: IO[bytes],
    hit_filter: HitFilter,
    *,
    scheme: str = "https",
    host: str | None = None,
    summary: ImportSummary | None = None,
    progress: Callable[[int], None] | None = None,
    salts: Callable[[str], bytes] | None = None,
) -> ImportSummary:
    """Count the linkbacks in one access log, streamed line by line.

    :param hit_filter: the same rules as the middleware; its ``sites`` hold the ``--site``.
    :param host: the ``Host`` the pages were served under (with a port if not the default);
        the site's name when not given.
    :param progress: called with the number of bytes read since the last call.
    :param salts: visitor-key salts of past days (from :func:`~linkback.writer.ephemeral_salts`);
        give the same one to every file of one import, so that a visitor whose day is split
        over two rotated logs is one visitor.

    >>> with open_log("access.log.2.gz") as stream:          # doctest: +SKIP
    ...     import_log(store, stream, HitFilter(Options.from_kwargs(sites=["example.com"])))
    """
    summary = summary or ImportSummary()
    today = utcnow().strftime("%Y-%m-%d")
    old_salts = salts or ephemeral_salts()
    # Today's hits share the live salt, so a visitor already counted today is not counted twice;
    # past days get salts that live only for this import.
    aggregator = Aggregator(lambda day: store.salt(day) if day == today else old_salts(day))
    site = hit_filter.options.sites[0] if hit_filter.options.sites else ""
    for line in _lines(stream, progress):
        summary.lines += 1
        match = COMBINED.match(line)
        if match is None:
            summary.skipped["malformed"] += 1
            continue
        request = match["request"].split(" ")
        if len(request) < 2 or request[0] != "GET":
            summary.skipped["not-get"] += 1
            continue
        if not match["status"].startswith("2"):
            summary.skipped["not-2xx"] += 1
            continue
        path, _, query = request[1].partition("?")
        if not path.startswith("/") or path.lower().endswith(ASSET_SUFFIXES):
            summary.skipped["not-page"] += 1
            continue
        moment = parse_time(match["time"])
        referer = match["referer"]
        if moment is None:
            summary.skipped["malformed"] += 1
            continue
        if referer in ("", "-"):
            summary.skipped["no-referrer"] += 1
            continue
        result = hit_filter.check(referer, host or site, path, query, scheme, match["agent"])
        if not isinstance(result, Accepted):
            summary.skipped[result.reason] += 1
            continue
        aggregator.add(result, moment.astimezone(dt.UTC).strftime("%Y-%m-%d"), match["addr"], match["agent"])
        summary.counted += 1
        if aggregator.hits >= FLUSH_EVERY:
            summary.new_linkbacks += store.record_hits(aggregator.take())
    if aggregator.hits:
        summary.new_linkbacks += store.record_hits(aggregator.take())
    return summary


def _lines(stream: IO[bytes], progress: Callable[[int], None] | None) -> Iterator[str]:
    raw = getattr(stream, "fileobj", None) or stream
    last = 0
    reader = io.BufferedReader(stream) if not isinstance(stream, io.BufferedIOBase) else stream  # type: ignore[arg-type]
    for number, line in enumerate(reader):
        if progress is not None and number % 4096 == 0:
            position = raw.tell()
            progress(position - last)
            last = position
        yield line.decode("utf-8", "replace").rstrip("\r\n")
    if progress is not None:
        try:
            progress(raw.tell() - last)
        except (OSError, ValueError):
            pass
