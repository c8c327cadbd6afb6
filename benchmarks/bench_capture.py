"""Capture: the middleware's cost per request, and how fast hits reach SQLite.

(a) per-request overhead over a trivial WSGI application, without and with an external
    Referer (the request path only: the writer thread is kept asleep, its work is (b));
(b) sustained ingestion through the real writer path: ``HitWriter.put`` then ``flush``
    (filter, normalise, hash, aggregate, one transaction per batch) into a file;
(c) the physical reference: a plain ``executemany`` of one upsert per hit into the same
    ``daily`` table, in transactions of the same size, with nothing else done;
(d) one batch of 3,000 new (source, target) pairs through ``Store.record_hits``, alone and
    beside four threads that compute without pause (a busy threaded server). sqlite3 lets go
    of the GIL around every step into SQLite, and getting it back from threads that compute
    can take a switch interval (5 ms) or more, so beside busy threads a batch costs according
    to its number of statements: a few per batch here, where a few per pair made such a
    batch take seconds to minutes. Best of three runs.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
import time
from typing import Any

from linkback import LinkbackMiddleware
from linkback.config import Options
from linkback.filters import HitFilter
from linkback.store import Store
from linkback.writer import HitWriter, utc_day

REQUESTS = 100_000
HITS = 200_000
BATCH = 10_000
PAIRS = 2_000
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0 Safari/537.36" % v
    for v in range(100, 150)
]


def _site(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [b"<p>page</p>"]


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
    return None


def _environ(referer: str | None) -> dict[str, Any]:
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/blog/post", "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "example.com", "SERVER_PORT": "443", "wsgi.url_scheme": "https",
        "HTTP_HOST": "example.com", "REMOTE_ADDR": "203.0.113.5", "HTTP_USER_AGENT": AGENTS[0],
    }
    if referer:
        environ["HTTP_REFERER"] = referer
    return environ


def _per_call(app: Any, environ: dict[str, Any], n: int) -> float:
    """Best of five runs of ``n`` calls, in seconds per call."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            app(environ, _start_response)
        best = min(best, time.perf_counter() - start)
        queue = getattr(getattr(app, "writer", None), "queue", None)
        if queue is not None:
            queue.clear()
    return best / n


def overhead(workdir: str) -> dict[str, float]:
    mw = LinkbackMiddleware(_site, os.path.join(workdir, "overhead.db"), sites=["example.com"],
                            crawl=False, queue_size=REQUESTS + 1, batch_size=REQUESTS + 1,
                            flush_interval=3600)
    figures = {}
    for name, referer in (("without", None), ("with", "https://blog.example.org/entry")):
        environ = _environ(referer)
        mw(environ, _start_response)  # warm up: starts the writer, fills the caches
        bare = _per_call(_site, environ, REQUESTS)
        wrapped = _per_call(mw, environ, REQUESTS)
        figures[name + "_bare_us"] = bare * 1e6
        figures[name + "_us"] = (wrapped - bare) * 1e6
        figures[name + "_ratio"] = wrapped / bare
    mw.writer.queue.clear()
    mw.close()
    return figures


def _raw_hits(now: float) -> list[tuple]:
    """A day of varied traffic: 2,000 linkbacks (referrer, page), 10,000 visitors."""
    hits = []
    for n in range(HITS):
        pair = n % PAIRS
        hits.append((
            now, "https://site%d.example.org/post?utm_source=feed" % pair,
            "example.com", "", "/blog/%d" % (pair % 50), "", "https",
            "198.51.%d.%d" % (n % 10_000 // 250, n % 250), AGENTS[n % len(AGENTS)],
        ))
    return hits


def ingestion(workdir: str) -> float:
    path = os.path.join(workdir, "ingest.db")
    Store(path).close()
    writer = HitWriter(lambda: Store(path), HitFilter(Options.from_kwargs(sites=["example.com"])),
                       queue_size=HITS + 1, batch_size=BATCH, flush_interval=3600)
    hits = _raw_hits(time.time())
    writer.put(hits[0])
    writer.flush()  # open the store, make the day's salt
    start = time.perf_counter()
    put = writer.put
    for i in range(0, HITS, BATCH):
        for hit in hits[i : i + BATCH]:
            put(hit)
        writer.flush()
    elapsed = time.perf_counter() - start
    stats = writer.stats()
    writer.close()
    assert stats["stored"] == HITS + 1 and stats["dropped"] == 0, stats
    return HITS / elapsed


def executemany(workdir: str) -> float:
    path = os.path.join(workdir, "plain.db")
    store = Store(path)
    day = utc_day(time.time())
    with store.write() as conn:
        conn.executemany(
            "INSERT INTO linkbacks (id, source, permalink, target, first_seen, last_seen)"
            " VALUES (?, ?, ?, ?, '', '')",
            [(i, "s%d" % i, "s%d" % i, "t") for i in range(1, PAIRS + 1)],
        )
    store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    # One row per hit: the (linkback, day) the hit adds to, the same pairs as in (b).
    rows = [(1 + n % PAIRS, day) for n in range(HITS)]
    sql = (
        "INSERT INTO daily (linkback_id, day, hits, value, visitors) VALUES (?, ?, 1, 1, 1)"
        " ON CONFLICT (linkback_id, day) DO UPDATE SET hits = hits + 1, value = value + 1"
    )
    start = time.perf_counter()
    for i in range(0, HITS, BATCH):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows[i : i + BATCH])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return HITS / elapsed


CONTENDED_PAIRS = 3_000
SPINNERS = 4


def _contended(work: Any, runs: int = 3) -> tuple[float, float]:
    """Best seconds of ``runs`` calls of ``work()`` alone, then beside :data:`SPINNERS` threads
    that compute."""
    alone = min(_timed(work) for _ in range(runs))
    stop = threading.Event()

    def spin() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    spinners = [threading.Thread(target=spin, daemon=True) for _ in range(SPINNERS)]
    for thread in spinners:
        thread.start()
    try:
        beside = min(_timed(work) for _ in range(runs))
    finally:
        stop.set()
        for thread in spinners:
            thread.join()
    return alone, beside


def _timed(work: Any) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def contention(workdir: str) -> dict[str, float]:
    day = utc_day(time.time())
    pairs = [("https://site%d.example.org/post" % n, "https://example.com/blog/%d" % (n % 50))
             for n in range(CONTENDED_PAIRS)]
    groups = {
        (source, target, "example.com", day): (3, {n % 4096: 2, (7 * n + 1) % 4096: 1})
        for n, (source, target) in enumerate(pairs)
    }
    stores = iter([Store(os.path.join(workdir, "contended%d.db" % n)) for n in range(6)])

    def record() -> None:
        store = next(stores)
        store.record_hits(groups)
        store.close()

    figures = {}
    figures["record_alone"], figures["record_beside"] = _contended(record)
    return figures


def run() -> None:
    print("machine: %d cores" % (os.cpu_count() or 0))
    with tempfile.TemporaryDirectory() as workdir:
        a = overhead(workdir)
        b = ingestion(workdir)
        c = executemany(workdir)
        d = contention(workdir)
    print("(a) per-request overhead over a trivial WSGI app (%d requests, best of 5)" % REQUESTS)
    print("    trivial app alone:         %6.2f us" % a["without_bare_us"])
    print("    without Referer: +%6.2f us  (x%.2f)   target <= 5 us" % (a["without_us"], a["without_ratio"]))
    print("    with Referer:    +%6.2f us  (x%.2f)   target <= 20 us" % (a["with_us"], a["with_ratio"]))
    print("(b) writer path, put + flush into SQLite: %8.0f hits/s   target >= 50,000" % b)
    print("(c) plain executemany, one upsert a hit:  %8.0f hits/s" % c)
    print("    (b)/(c) = %.2f" % (b / c))
    print("(d) Store.record_hits, %d new pairs, best of 3" % CONTENDED_PAIRS)
    print("    alone: %.3f s   beside %d computing threads: %.3f s  (x%.1f)"
          % (d["record_alone"], SPINNERS, d["record_beside"], d["record_beside"] / d["record_alone"]))
