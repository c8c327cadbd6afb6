"""Render figures: the linkbacks block cached and uncached, 10,000 linkbacks, 200 on the page.

Targets: cached ≤ 50 µs per call, uncached ≤ 2 ms. Measured side by side in one run.

"Cold" means nothing cached at all: no block and no cleaned entry, as after a start. "After a
change elsewhere" is what a live site sees most: some other page's linkback was verified, the
change counter moved, every block is rebuilt, but this page's entries come from the entry
cache. The query alone is the floor the Python work sits on.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from collections.abc import Callable

from linkback.render import ENTRY_COLUMNS, Renderer
from linkback.store import KINDS, Store, isotime, utcnow

PAGE = "https://example.com/posts/popular"
TOTAL = 10_000
ON_PAGE = 200


def populate(store: Store) -> None:
    now = utcnow()
    store.ensure_sites(["example.com"])
    blurb = ("A few words before the link, then the words that link here, and a sentence or two "
             "after it so the blurb has a realistic length for the block.")
    start = blurb.index("the words that link here")
    for i in range(TOTAL):
        on_page = i < ON_PAGE
        seen = isotime(now - dt.timedelta(hours=i))
        store.add_linkback(
            "https://site%d.example/post/%d" % (i % 997, i),
            PAGE if on_page else "https://example.com/posts/p%d" % (i % 980),
            status="verified" if on_page or i % 3 else "pending",
            kind=KINDS[i % 4] if on_page else "referrer",
            title="Entry number %d about something <interesting>" % i,
            site_name="Site %d" % (i % 997), author_name="Author %d" % i,
            published=seen, blurb=blurb, blurb_start=start, blurb_end=start + 24,
            visitors=float(i % 50), value=float(i % 60), hits=i % 70,
            first_seen=seen, last_seen=seen,
        )


def per_call(
    fn: Callable[[], object],
    calls: int,
    repeats: int = 5,
    before: Callable[[], object] | None = None,
) -> float:
    """Seconds per call of ``fn``: the best of ``repeats`` runs of ``calls`` calls (the least
    disturbed by other work on the machine). ``before`` runs ahead of each call, untimed."""
    runs = []
    for _ in range(repeats):
        total = 0.0
        for _ in range(calls):
            if before is not None:
                before()
            start = time.perf_counter()
            fn()
            total += time.perf_counter() - start
        runs.append(total / calls)
    return min(runs)


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.db")
        store = Store(path)
        populate(store)
        renderer = Renderer(store, stylesheet_href="/.linkback/linkbacks.css")
        assert renderer.render(PAGE).count("<li ") == 20
        assert renderer.render(PAGE, limit=200).count("<li ") == ON_PAGE
        other_page = store.linkbacks(target="https://example.com/posts/p1", status="verified")
        elsewhere = other_page[0]["id"]
        status = ["verified"]

        def change_elsewhere() -> None:
            # Another page's linkback verified or hidden, as the crawler and moderators do.
            status[0] = "hidden" if status[0] == "verified" else "verified"
            store.set_linkbacks_status([elsewhere], status[0])

        def render(**options: object) -> Callable[[], object]:
            return lambda: renderer.render(PAGE, **options)

        def cold() -> None:
            renderer.clear()  # blocks and entries

        def query() -> object:
            return store.displayed_linkbacks(
                PAGE, kinds=KINDS[:4], limit=ON_PAGE, columns=ENTRY_COLUMNS, tuples=True
            )

        rows = [
            ("cached render (default: 20 shown)", per_call(render(), 20_000), 50e-6),
            ("cold render (20 shown)", per_call(render(), 300, before=cold), 2e-3),
            ("cold render (all 200 shown)", per_call(render(limit=200), 100, before=cold), 2e-3),
            ("200 shown, after a change elsewhere",
             per_call(render(limit=200), 100, before=change_elsewhere), 2e-3),
            ("the query alone (200 rows)", per_call(query, 300), None),
        ]
        print("%d linkbacks in the database, %d verified on the page" % (TOTAL, ON_PAGE))
        print("%-38s %12s %10s %8s" % ("", "per call", "target", "ratio"))
        for name, seconds, target in rows:
            print("%-38s %9.1f µs %7s %8s" % (
                name, seconds * 1e6, "%d µs" % (target * 1e6) if target else "",
                "%.2f" % (seconds / target) if target else "",
            ))
        store.close()


if __name__ == "__main__":
    run()
