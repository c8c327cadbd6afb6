"""The admin's linkbacks page with 100,000 linkbacks: server time per request.

Each figure is one whole request through the WSGI application (session check, query,
template), median of several runs, measured in-process so it is server time only. Beside
them, the same deep page fetched with ``OFFSET`` shows what keyset paging saves.
"""

from __future__ import annotations

import json
import random
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from werkzeug.test import Client

from linkback.admin.app import AdminApp
from linkback.admin.auth import SESSION_COOKIE, SESSION_IDLE, session_key
from linkback.store import KINDS, Store

ROWS = 100_000
BUDGET_MS = 200.0
RUNS = 7


def build(path: Path) -> Store:
    """100,000 linkbacks shaped like crawled ones: titles, ~250-character blurbs, authors."""
    store = Store(path)
    rnd = random.Random(7)
    sites = ["site%d.example" % n for n in range(5)]
    store.ensure_sites(sites)
    statuses = ["verified", "pending", "unverified", "gone", "held", "hidden", "blocked", "error"]
    weights = [60, 10, 10, 5, 5, 3, 5, 2]
    words = "the a linkback page post about notes on small web tools and blogs who links here".split()
    for n in range(ROWS):
        site = sites[n % 5]
        source = "https://src%d.example.org/post/%d" % (rnd.randrange(5000), n)
        value = rnd.paretovariate(1.2)
        day = "2026-%02d-%02dT%02d:00:00Z" % (rnd.randrange(1, 12), rnd.randrange(1, 29), rnd.randrange(24))
        store.add_linkback(
            source, "https://%s/posts/%d" % (site, rnd.randrange(2000)),
            site=site, kind=rnd.choices(KINDS, [80, 8, 4, 2, 6])[0],
            status=rnd.choices(statuses, weights)[0],
            title=" ".join(rnd.choices(words, k=7)).capitalize(),
            blurb=" ".join(rnd.choices(words, k=45)), author_name="Author %d" % (n % 977),
            site_name="Site %d" % (n % 5000), hits=int(value * 1.3), value=value, visitors=value * 0.9,
            first_seen=day, last_seen=day,
        )
    store.conn.execute("ANALYZE")
    return store


def client_for(store: Store) -> Client:
    user = store.create_user("bench", "not-a-real-hash")
    token = secrets.token_urlsafe(32)
    now = time.time()
    store.create_session(session_key(token), user, "csrf", now=now, expires_at=now + SESSION_IDLE)
    app = AdminApp(store)
    client = Client(app)
    client.set_cookie(SESSION_COOKIE, app.auth.cookie_value(token))
    return client


def median_ms(fn: object, runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        store = build(Path(tmp) / "bench.db")
        print("built %d linkbacks in %.0f s" % (ROWS, time.perf_counter() - started))
        client = client_for(store)
        deep = store.conn.execute(
            "SELECT value, id FROM linkbacks ORDER BY value DESC, id DESC LIMIT 1 OFFSET 89999"
        ).fetchone()
        cursor = json.dumps([deep[0], deep[1]])
        target = store.admin_linkbacks(limit=1)["rows"][0]["target"]
        cases = [
            ("first page, by value", "/linkbacks"),
            ("row 90,001 (keyset), by value", "/linkbacks?after=%s" % cursor),
            ("status=verified, by hits", "/linkbacks?status=verified&sort=hits"),
            ("status=error, by last seen", "/linkbacks?status=error&sort=last_seen"),
            ("site + kind, newest", "/linkbacks?site=site2.example&kind=%s&sort=first_seen" % KINDS[0]),
            ("one target page", "/linkbacks?target=%s" % target),
            ("search 'src42.'", "/linkbacks?q=src42."),
            ("search + status", "/linkbacks?q=post/9&status=verified"),
            ("overview", "/"),
        ]
        print("%-36s %10s %10s" % ("request (100,000 linkbacks)", "median ms", "of budget"))
        worst = 0.0
        for label, url in cases:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            ms = median_ms(lambda url=url: client.get(url))
            worst = max(worst, ms)
            print("%-36s %10.1f %9.0f%%" % (label, ms, 100 * ms / BUDGET_MS))
        offset = median_ms(lambda: store.conn.execute(
            "SELECT * FROM linkbacks ORDER BY value DESC, id DESC LIMIT 51 OFFSET 90000"
        ).fetchall(), runs=3)
        keyset = median_ms(lambda: store.admin_linkbacks(after=(deep[0], deep[1]), limit=50))
        print("row 90,001 query alone: keyset %.1f ms, OFFSET %.1f ms (%.0fx)" % (keyset, offset, offset / keyset))
        mid = store.conn.execute(
            "SELECT hits, id FROM linkbacks WHERE status = 'verified' ORDER BY hits DESC, id DESC"
            " LIMIT 1 OFFSET 49999"
        ).fetchone()
        offset = median_ms(lambda: store.conn.execute(
            "SELECT * FROM linkbacks WHERE status = 'verified' ORDER BY hits DESC, id DESC LIMIT 51 OFFSET 50000"
        ).fetchall(), runs=3)
        keyset = median_ms(lambda: store.admin_linkbacks(
            status="verified", sort="hits", after=(mid[0], mid[1]), limit=50
        ))
        print("verified by hits, row 50,001: keyset %.1f ms, OFFSET %.1f ms (%.0fx)" % (keyset, offset, offset / keyset))
        print("slowest linkbacks page: %.1f ms = %.0f%% of the %d ms budget" % (worst, 100 * worst / BUDGET_MS, BUDGET_MS))
        store.close()


if __name__ == "__main__":
    run()
