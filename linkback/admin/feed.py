"""An Atom feed (RFC 4287) of newly verified linkbacks, for a feed reader.

The feed lives at a secret per-user URL, since feed readers cannot log in. Each entry
links to the page that links to us, so the owner can go and thank its author.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .. import urls

ATOM = "http://www.w3.org/2005/Atom"

# Characters XML 1.0 forbids; remote pages can put them in a title or blurb.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _text(value: Any) -> str:
    return _INVALID_XML.sub("", str(value or ""))


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def atom_feed(
    linkbacks: Iterable[Mapping[str, Any]],
    *,
    feed_url: str,
    home_url: str,
    detail_url: Callable[[int], str],
    title: str = "New linkbacks",
) -> bytes:
    """Render linkbacks (newest first) as an Atom document.

    :param feed_url: this feed's own URL (``rel="self"``).
    :param home_url: the admin's overview, the feed's ``alternate`` link.
    :param detail_url: the admin page of a linkback id; also the entry's stable id.
    """
    ET.register_namespace("", ATOM)
    rows = list(linkbacks)
    feed = ET.Element("{%s}feed" % ATOM)
    ET.SubElement(feed, "{%s}id" % ATOM).text = _text(home_url)
    ET.SubElement(feed, "{%s}title" % ATOM).text = _text(title)
    updated = rows[0]["verified_at"] if rows else _now()
    ET.SubElement(feed, "{%s}updated" % ATOM).text = _text(updated)
    ET.SubElement(feed, "{%s}link" % ATOM, rel="self", href=feed_url, type="application/atom+xml")
    ET.SubElement(feed, "{%s}link" % ATOM, rel="alternate", href=home_url, type="text/html")
    ET.SubElement(feed, "{%s}generator" % ATOM).text = _text("linkback")
    for row in rows:
        entry = ET.SubElement(feed, "{%s}entry" % ATOM)
        ET.SubElement(entry, "{%s}id" % ATOM).text = _text(detail_url(row["id"]))
        source_host = urls.host_of(row["permalink"]) if "://" in row["permalink"] else row["permalink"]
        heading = row.get("title") or source_host
        entry_title = "%s → %s" % (heading, _path(row["target"]))
        ET.SubElement(entry, "{%s}title" % ATOM).text = _text(entry_title)
        ET.SubElement(entry, "{%s}updated" % ATOM).text = _text(row["verified_at"])
        ET.SubElement(entry, "{%s}published" % ATOM).text = _text(row["first_seen"])
        author = ET.SubElement(entry, "{%s}author" % ATOM)
        name = row.get("author_name") or row.get("site_name") or source_host
        ET.SubElement(author, "{%s}name" % ATOM).text = _text(name)
        if _http(row.get("author_url")):
            ET.SubElement(author, "{%s}uri" % ATOM).text = _text(row["author_url"])
        # Only http(s) URLs become links: a feed reader may follow whatever it is given.
        if _http(row["permalink"]):
            ET.SubElement(entry, "{%s}link" % ATOM, rel="alternate", href=row["permalink"], type="text/html")
        if _http(row["target"]):
            ET.SubElement(entry, "{%s}link" % ATOM, rel="related", href=row["target"])
        ET.SubElement(entry, "{%s}link" % ATOM, rel="via", href=detail_url(row["id"]))
        summary = row.get("blurb") or ""
        status = " (held for approval)" if row.get("status") == "held" else ""
        text = "%s links to %s%s.\n\n%s" % (heading, row["target"], status, summary)
        ET.SubElement(entry, "{%s}summary" % ATOM).text = _text(text.strip())
        ET.SubElement(entry, "{%s}category" % ATOM, term=row.get("kind") or "referrer")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _http(url: Any) -> bool:
    return isinstance(url, str) and url.lower().startswith(("http://", "https://"))


def _path(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return "/" + rest.split("/", 1)[1] if "/" in rest else url
