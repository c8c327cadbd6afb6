"""SIGKILL during ingestion: the database opens cleanly and only the unflushed hits are lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from linkback import Store

ROOT = Path(__file__).resolve().parent.parent
QUEUE_SIZE = 4000
BATCH_SIZE = 200
CHUNK = 500

#: Sends hits through the middleware without end, and after each chunk prints how many it
#: has sent and how many the writer thread has committed.
INGEST = """
    import sys
    import time
    from linkback import LinkbackMiddleware

    def site(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"ok"]

    mw = LinkbackMiddleware(site, sys.argv[1], sites=["example.com"], crawl=False,
                            flush_interval=0.01, batch_size=%(batch)d, queue_size=%(queue)d)
    ua = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    sent = 0
    while True:
        for _ in range(%(chunk)d):
            environ = {
                "REQUEST_METHOD": "GET", "PATH_INFO": "/p%%d" %% (sent %% 97), "QUERY_STRING": "",
                "HTTP_HOST": "example.com", "wsgi.url_scheme": "https", "HTTP_USER_AGENT": ua,
                "HTTP_REFERER": "https://site%%d.example.org/" %% (sent %% 31),
                "REMOTE_ADDR": "198.51.100.%%d" %% (sent %% 200),
            }
            list(mw(environ, lambda status, headers, exc_info=None: None))
            sent += 1
        stats = mw.stats()
        print(sent, stats["stored"], stats["dropped"], flush=True)
        # Stay inside the queue bound: this test is about crashes, not about a full queue.
        # Wait by sleeping: a loop spinning on the GIL would starve the writer thread.
        while len(mw.writer.queue) > %(queue)d - %(chunk)d:
            time.sleep(0.002)
""" % {"batch": BATCH_SIZE, "queue": QUEUE_SIZE, "chunk": CHUNK}


def _stored_hits(db_path: str) -> int:
    store = Store(db_path)
    try:
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return sum(r["hits"] for r in store.linkbacks())
    finally:
        store.close()


def test_sigkill_during_ingestion(tmp_path: Path) -> None:
    db_path = str(tmp_path / "linkback.db")
    script = tmp_path / "ingest.py"
    script.write_text(textwrap.dedent(INGEST))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    before = 0
    for _round in range(3):
        child = subprocess.Popen([sys.executable, str(script), db_path], stdout=subprocess.PIPE, env=env, text=True)
        assert child.stdout is not None
        last = (0, 0, 0)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            assert line, "the ingesting process ended early"
            last = tuple(int(x) for x in line.split())  # type: ignore[assignment]
            if last[1] >= 3000:  # well into ingestion
                break
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read().split("\n")
        child.wait()
        child.stdout.close()
        for line in rest:
            if line.strip():
                last = tuple(int(x) for x in line.split())  # type: ignore[assignment]
        sent, committed, dropped = last
        assert dropped == 0
        after = _stored_hits(db_path)  # opens cleanly, integrity_check is ok
        gained = after - before
        # Everything the writer reported committed survived ...
        assert gained >= committed
        # ... and at most the unflushed hits were lost: the queue (bounded) plus the batch the
        # writer had taken off it (at most ten times batch_size). ``sent`` is what the last
        # report said; at most one more chunk was sent before the kill.
        assert sent - gained <= QUEUE_SIZE + 10 * BATCH_SIZE
        assert gained <= sent + CHUNK
        before = after
    # The database still takes writes after three crashes.
    store = Store(db_path)
    store.add_counter("after_crash", 1)
    assert store.counter("after_crash") == 1
    store.close()
