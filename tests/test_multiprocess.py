"""A real multi-process server: gunicorn, 4 workers, one database file, no hit lost."""

from __future__ import annotations

import collections
import http.client
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from linkback import Store

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"

REQUESTS = 10_000
CLIENT_THREADS = 8
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36 v%d"

APP = """
    import os
    from linkback import LinkbackMiddleware

    def site(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [b"<p>page</p>"]

    app = LinkbackMiddleware(site, os.environ["LINKBACK_TEST_DB"], sites=["127.0.0.1"], crawl=False,
                             flush_interval=0.2, batch_size=500)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited: %s" % process.stderr.read().decode())  # type: ignore[union-attr]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start")


def _request(n: int) -> tuple[str, str, str]:
    """The n-th request: (path, Referer, User-Agent); 12 referrers, 5 pages, 40 visitors."""
    return "/post/%d" % (n % 5), "https://site%d.example.org/entry" % (n % 12), UA % (n % 40)


def _client(port: int, numbers: range, sent: collections.Counter[tuple[str, str]],
            visitors: dict[tuple[str, str], set[str]], lock: threading.Lock) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    mine: collections.Counter[tuple[str, str]] = collections.Counter()
    agents: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
    for n in numbers:
        path, referer, agent = _request(n)
        conn.request("GET", path, headers={"Referer": referer, "User-Agent": agent})
        response = conn.getresponse()
        assert response.read() == b"<p>page</p>" and response.status == 200
        key = (referer, "http://127.0.0.1:%d%s" % (port, path))
        mine[key] += 1
        agents[key].add(agent)
    conn.close()
    with lock:
        sent.update(mine)
        for key, seen in agents.items():
            visitors.setdefault(key, set()).update(seen)


@pytest.mark.parametrize("preload", [False, True], ids=["app per worker", "app preloaded then forked"])
def test_four_workers_lose_no_hit(tmp_path: Path, preload: bool) -> None:
    if not GUNICORN.exists():
        pytest.skip("gunicorn is not installed")
    db_path = tmp_path / "linkback.db"
    (tmp_path / "site_app.py").write_text(textwrap.dedent(APP))
    port = _free_port()
    args = [str(GUNICORN), "--workers", "4", "--worker-class", "gthread", "--threads", "4",
            "--bind", "127.0.0.1:%d" % port, "--graceful-timeout", "30", "--log-level", "warning"]
    if preload:
        args.append("--preload")
    env = dict(os.environ, LINKBACK_TEST_DB=str(db_path), PYTHONPATH="%s:%s" % (tmp_path, ROOT))
    server = subprocess.Popen(args + ["site_app:app"], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(port, server)
        sent: collections.Counter[tuple[str, str]] = collections.Counter()
        visitors: dict[tuple[str, str], set[str]] = {}
        lock = threading.Lock()
        share = REQUESTS // CLIENT_THREADS
        threads = [
            threading.Thread(target=_client, args=(port, range(i * share, (i + 1) * share), sent, visitors, lock))
            for i in range(CLIENT_THREADS)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(sent.values()) == REQUESTS
    finally:
        server.send_signal(signal.SIGTERM)  # graceful stop: each worker flushes as it exits
        _, errors = server.communicate(timeout=60)
    assert server.returncode == 0, errors.decode()
    assert b"Traceback" not in errors, errors.decode()

    store = Store(str(db_path))
    stored = {(r["source"], r["target"]): r["hits"] for r in store.linkbacks()}
    assert (store.counter("dropped_hits"), sum(stored.values())) == (0, REQUESTS), errors.decode()
    assert stored == dict(sent)
    assert sum(d["hits"] for r in store.linkbacks() for d in store.daily(r["id"])) == REQUESTS
    # One salt for all workers: a visitor is one visitor, whichever worker served it.
    for row in store.linkbacks():
        assert row["visitors"] == pytest.approx(len(visitors[(row["source"], row["target"])]), abs=0.1)
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.close()
