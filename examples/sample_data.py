"""Verified linkbacks for the example sites, written straight to the database.

The crawler would normally find these; screenshots, tests and demos want a populated block
without fetching anything::

    python examples/sample_data.py linkback.db http://127.0.0.1:5000

A few linkbacks that must never be shown (pending, blocked, spam held back) are added too,
so a page that shows them has a bug.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from typing import Any

from linkback.store import Store, isotime, utcnow

#: Post slug → linkbacks to it, each the columns :meth:`Store.add_linkback` takes plus
#: ``highlight``, the linking text inside the blurb.
SAMPLE: dict[str, list[dict[str, Any]]] = {
    "hello-linkback": [
        {
            "source": "https://news.ycombinator.com/item?id=4242", "kind": "discussion",
            "title": "Hello, linkback: who links here, without a third party",
            "points": 128, "comments": 57,
        },
        {
            "source": "https://lobste.rs/s/xk2pqa/hello_linkback", "kind": "discussion",
            "title": "Hello, linkback", "points": 34, "comments": 12,
        },
        {
            "source": "https://alice.example/2026/11/who-links-here", "kind": "referrer",
            "title": "Who links here?", "site_name": "Alice's notebook",
            "author_name": "Alice Martin", "author_url": "https://alice.example/",
            "published": "2026-11-12T09:00:00Z",
            "blurb": "I finally added backlinks to my own site after reading Hello, linkback, "
                     "which explains how to show who links to each page without any "
                     "third-party service.",
            "highlight": "Hello, linkback", "visitors": 42.0, "value": 44.0, "hits": 51,
        },
        {
            "source": "https://bob.example/posts/backlinks-are-back", "kind": "webmention",
            "title": "Backlinks are back", "site_name": "Bob writes", "author_name": "Bob Example",
            "published": "2026-11-18T18:30:00Z",
            "blurb": "Trackbacks died of spam, but referrers never went away. The trick is in "
                     "verifying every claim before showing it, as this little library does.",
            "highlight": "this little library",
        },
        {
            "source": "https://journal.example.org/2026/indieweb-notes", "kind": "pingback",
            "title": "Notes from a weekend of IndieWeb tinkering", "site_name": "A Journal",
            "author_name": "Dana K.", "published": "2026-10-30",
            "blurb": "Sunday went to receiving Pingbacks again, then to showing a proper "
                     "linkbacks block under each post, and finally to a long walk.",
            "highlight": "linkbacks block",
        },
        {
            "source": "https://blog.example.de/2026/11/rueckverweise", "kind": "referrer",
            "title": "Rückverweise für die eigene Website", "site_name": "Jörgs Blog",
            "author_name": "Jörg Müller", "published": "2026-11-02",
            "blurb": "Als serverseitige Lösung für Rückverweise habe ich linkback ausprobiert – "
                     "ganz ohne Dienste Dritter.",
            "highlight": "linkback", "visitors": 9.0, "value": 9.0, "hits": 9,
        },
        {
            "source": "https://links.example.net/weekly-47", "kind": "trackback",
            "title": "Weekly links #47", "site_name": "Link roundup",
            "blurb": "Also this week: a self-hosted way to show who links here.",
            "highlight": "who links here",
        },
        # Never shown.
        {"source": "https://spam.example/casino", "kind": "referrer", "status": "blocked",
         "title": "NOT SHOWN: blocked", "visitors": 900.0, "value": 900.0, "hits": 5000},
        {"source": "https://pending.example/", "kind": "referrer", "status": "pending",
         "title": "NOT SHOWN: pending", "visitors": 80.0, "value": 80.0, "hits": 80},
        {"source": "https://held.example/", "kind": "webmention", "status": "held",
         "title": "NOT SHOWN: held"},
    ],
    "static-pages": [
        {
            "source": "https://carol.example/notes/static-sites", "kind": "referrer",
            "title": "Static sites can have backlinks too", "site_name": "Carol's notes",
            "author_name": "Carol", "published": "2026-11-20",
            "blurb": "The embed script loads the block after the page has rendered, and the "
                     "beacon counts visits that nginx served from disk.",
            "highlight": "embed script", "visitors": 17.0, "value": 18.0, "hits": 22,
        },
        {
            "source": "https://www.reddit.com/r/selfhosted/comments/1abcde/linkback/",
            "kind": "discussion", "title": "Self-hosted backlinks for static sites",
            "points": 312, "comments": 88,
        },
    ],
    "privacy": [
        {
            "source": "https://erin.example/privacy-first-analytics", "kind": "webmention",
            "title": "Privacy-first ways to see who links to you", "site_name": "Erin's blog",
            "author_name": "Erin", "published": "2026-09-14",
            "blurb": "No cookies and no third party: daily salts that are deleted make "
                     "yesterday's visitor keys impossible to recompute.",
            "highlight": "daily salts",
        },
    ],
}


def populate(database: str | os.PathLike[str] | Store, base_url: str) -> int:
    """Add :data:`SAMPLE` for the posts at ``base_url`` (``/posts/<slug>``); return how many."""
    store = database if isinstance(database, Store) else Store(database)
    base = base_url.rstrip("/")
    host = base.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    store.ensure_sites([host])
    now = utcnow()
    count = 0
    for slug, items in SAMPLE.items():
        target = "%s/posts/%s" % (base, slug)
        for index, item in enumerate(items):
            columns = dict(item)
            source = columns.pop("source")
            highlight = columns.pop("highlight", None)
            if highlight and columns.get("blurb"):
                start = columns["blurb"].find(highlight)
                if start >= 0:
                    columns["blurb_start"], columns["blurb_end"] = start, start + len(highlight)
            columns.setdefault("status", "verified")
            columns.setdefault("site", host)
            seen = isotime(now - dt.timedelta(days=index))
            columns.setdefault("first_seen", seen)
            columns.setdefault("last_seen", seen)
            store.add_linkback(source, target, **columns)
            count += 1
    return count


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python examples/sample_data.py DATABASE BASE_URL")
    print("added %d linkbacks" % populate(sys.argv[1], sys.argv[2]))
