from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from capture_support import BROWSER_UA, all_text, html_app, make_middleware, visit
from werkzeug.test import Client

from linkback import ConfigError, LinkbackMiddleware, Store
from linkback.config import Options
from linkback.filters import HitFilter
from linkback.writer import HitWriter

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def mw(db_path: str):
    middleware = make_middleware(db_path)
    yield middleware
    middleware.close()


def rows(middleware: LinkbackMiddleware) -> list[dict[str, Any]]:
    middleware.flush()
    return middleware.store.linkbacks(order="id")


def test_counts_an_external_referrer(mw: LinkbackMiddleware) -> None:
    client = Client(mw)
    response = visit(client, "/post?utm_source=x#frag", "https://Blog.Example.org/entry?fbclid=1")
    assert response.status_code == 200 and response.data == b"<p>page</p>"
    (row,) = rows(mw)
    assert (row["source"], row["target"], row["status"], row["hits"]) == (
        "https://blog.example.org/entry", "http://example.com/post", "pending", 1,
    )
    assert row["site"] == "example.com"
    assert mw.stats()["stored"] == 1


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        pytest.param("/post", {"method": "POST"}, id="POST"),
        pytest.param("/post", {"method": "HEAD"}, id="HEAD"),
        pytest.param("/missing", {}, id="404"),
        pytest.param("/moved", {}, id="302"),
        pytest.param("/api/items", {}, id="JSON response"),
        pytest.param("/post", {"referer": None}, id="no Referer"),
        pytest.param("/post", {"referer": ""}, id="empty Referer"),
        pytest.param("/post", {"referer": "http://example.com/other"}, id="same host"),
        pytest.param("/post", {"referer": "https://www.example.com/other"}, id="same registrable domain"),
        pytest.param("/post", {"agent": "Mozilla/5.0 (compatible; bingbot/2.0)"}, id="bot"),
        pytest.param("/post", {"host": "evil.example"}, id="not a configured site"),
        pytest.param("/post", {"referer": "javascript:alert(1)"}, id="javascript"),
    ],
)
def test_not_counted(mw: LinkbackMiddleware, path: str, kwargs: dict[str, Any]) -> None:
    visit(Client(mw), path, **kwargs)
    assert rows(mw) == []


def test_skips_are_counted_by_reason(mw: LinkbackMiddleware) -> None:
    client = Client(mw)
    visit(client, agent="Googlebot/2.1")
    visit(client, host="evil.example")
    visit(client, referer="https://www.example.com/")
    mw.flush()
    assert mw.stats()["skipped"] == {"bot": 1, "unknown-site": 1, "internal": 1}


def test_server_error_from_app_is_not_counted_and_propagates(db_path: str) -> None:
    def broken(environ: Any, start_response: Any) -> Any:
        raise RuntimeError("the application's own bug")

    middleware = make_middleware(db_path, broken)
    with pytest.raises(RuntimeError, match="own bug"):
        visit(Client(middleware))
    assert rows(middleware) == []
    middleware.close()


def test_exc_info_is_passed_through(db_path: str) -> None:
    seen: list[Any] = []

    def app(environ: Any, start_response: Any) -> Any:
        try:
            raise ValueError("boom")
        except ValueError:
            start_response("500 Internal Server Error", [("Content-Type", "text/html")], sys.exc_info())
        return [b"error"]

    middleware = make_middleware(db_path, app)

    def start_response(status: str, headers: list, exc_info: Any = None) -> Any:
        seen.append((status, exc_info))
        return lambda data: None

    environ = _environ(referer="https://blog.example.org/")
    assert list(middleware(environ, start_response)) == [b"error"]
    assert seen[0][0].startswith("500") and seen[0][1][0] is ValueError
    middleware.close()


def _environ(**headers: str) -> dict[str, Any]:
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/post", "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "example.com", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
        "REMOTE_ADDR": "203.0.113.5", "HTTP_HOST": "example.com", "HTTP_USER_AGENT": BROWSER_UA,
    }
    for name, value in headers.items():
        environ["HTTP_" + name.upper()] = value
    return environ


def test_body_iterable_is_returned_untouched(db_path: str) -> None:
    class Body:
        closed = False

        def __iter__(self) -> Any:
            yield b"streamed"

        def close(self) -> None:
            Body.closed = True

    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/html")])
        return Body()

    middleware = make_middleware(db_path, app)
    result = middleware(_environ(referer="https://blog.example.org/"), lambda s, h, e=None: None)
    assert isinstance(result, Body)
    middleware.close()


def test_fraud_compensation_end_to_end(mw: LinkbackMiddleware) -> None:
    client = Client(mw)
    for _ in range(1000):
        visit(client, "/replayed", "https://forum.example.net/t/1", address="198.51.100.9")
    for i in range(200):
        visit(client, "/popular", "https://news.example.net/item", address="198.51.%d.%d" % (i // 200, i % 200 + 1))
    replayed, popular = rows(mw)
    assert replayed["hits"] == 1000 and replayed["value"] <= 5 and replayed["fraud_pct"] >= 99
    assert popular["hits"] == 200
    assert popular["value"] == pytest.approx(200, rel=0.1)
    assert popular["visitors"] == pytest.approx(200, rel=0.1)
    assert popular["fraud_pct"] <= 5


def test_ipv6_clients_of_one_prefix_are_one_visitor(mw: LinkbackMiddleware) -> None:
    client = Client(mw)
    for i in range(20):
        visit(client, address="2001:db8:aa:bb::%x" % (i + 1))
    (row,) = rows(mw)
    assert row["hits"] == 20 and row["visitors"] == pytest.approx(1, abs=0.01)


def test_no_address_or_user_agent_is_stored(mw: LinkbackMiddleware, db_path: str) -> None:
    visit(Client(mw), address="198.51.100.231", agent=BROWSER_UA + " Unique/31337")
    rows(mw)
    text = all_text(db_path)
    assert "198.51.100.231" not in text and "Unique/31337" not in text


def test_configured_sites_are_recorded(mw: LinkbackMiddleware) -> None:
    visit(Client(mw))
    rows(mw)
    assert [s["host"] for s in mw.store.sites()] == ["example.com"]


def test_without_sites_any_host_counts_and_a_warning_says_so(db_path: str, caplog: Any) -> None:
    with caplog.at_level(logging.WARNING, logger="linkback"):
        middleware = make_middleware(db_path, sites=[])
    assert "no sites configured" in caplog.text
    visit(Client(middleware), host="whatever.example")
    (row,) = rows(middleware)
    assert (row["site"], row["target"]) == ("whatever.example", "http://whatever.example/post")
    middleware.close()


def test_blacklist_from_the_database_applies(db_path: str) -> None:
    Store(db_path).add_blacklist("*.spam.example")
    middleware = make_middleware(db_path)
    visit(Client(middleware), referer="https://www.spam.example/")
    assert rows(middleware) == []
    assert middleware.stats()["skipped"] == {"blacklisted": 1}
    middleware.close()


@pytest.mark.parametrize(
    ("database", "options", "message"),
    [
        (42, {}, "database"),
        (":memory:", {}, "memory"),
        ("x.db", {"sites": ["not a host"]}, "sites"),
        ("x.db", {"blacklist_files": ["/nonexistent"]}, "blacklist_files"),
        ("x.db", {"crawl": "no"}, "crawl"),
        ("x.db", {"allow_private_networks": "no"}, "allow_private_networks"),
        ("x.db", {"sitez": []}, "unknown option"),
    ],
)
def test_bad_options_fail_at_construction(database: Any, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LinkbackMiddleware(html_app, database, **options)


# --- dropped hits -------------------------------------------------------------------------------


def test_full_queue_drops_and_counts(db_path: str, caplog: Any) -> None:
    middleware = make_middleware(db_path, queue_size=5, flush_interval=3600)
    client = Client(middleware)
    for _ in range(12):
        visit(client)
    assert middleware.stats()["dropped"] == 7
    with caplog.at_level(logging.WARNING, logger="linkback"):
        middleware.flush()
    assert "dropped 7 hits" in caplog.text
    assert rows(middleware)[0]["hits"] == 5
    assert middleware.store.counter("dropped_hits") == 7
    middleware.close()


def test_missing_database_directory_keeps_the_site_up(tmp_path: Path, caplog: Any) -> None:
    database = str(tmp_path / "absent" / "linkback.db")
    with caplog.at_level(logging.WARNING, logger="linkback"):
        middleware = make_middleware(database)
        client = Client(middleware)
        for _ in range(50):
            assert visit(client).status_code == 200
            middleware.flush()
    assert middleware.stats()["dropped"] == 50
    drops = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(drops) == 1, "dropped hits are logged at a limited rate"
    middleware.close()


def _writer(open_store: Any, **options: Any) -> HitWriter:
    return HitWriter(open_store, HitFilter(Options.from_kwargs(sites=["example.com"])),
                     queue_size=1000, batch_size=100, flush_interval=3600)


def _hit(n: int = 0) -> tuple:
    import time

    return (time.time(), "https://blog.example.org/", "example.com", "", "/p%d" % n, "", "https",
            "203.0.113.%d" % (n % 250), BROWSER_UA)


def test_locked_database_keeps_counted_hits_and_retries(db_path: str) -> None:
    Store(db_path).close()
    writer = _writer(lambda: Store(db_path, timeout=0.05))
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    for n in range(10):
        writer.put(_hit(n))
    writer.flush()  # never raises
    assert writer.stats()["stored"] == 0
    assert writer.stats()["dropped"] == 0, "a busy database is a passing state"
    blocker.execute("ROLLBACK")
    blocker.close()
    writer.put(_hit())
    writer.flush()
    assert writer.stats()["stored"] == 11
    assert writer.stats()["dropped"] == 0
    writer.close()
    store = Store(db_path)
    assert sum(row["hits"] for row in store.linkbacks()) == 11
    store.close()


def test_database_locked_until_exit_drops_and_counts(db_path: str) -> None:
    Store(db_path).close()
    writer = _writer(lambda: Store(db_path, timeout=0.05))
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    for n in range(10):
        writer.put(_hit(n))
    writer.flush()
    writer.close()  # never raises; gives up after a few tries
    assert writer.stats()["dropped"] == 10
    blocker.execute("ROLLBACK")
    blocker.close()


def test_busy_database_keeps_no_more_than_the_queue_holds(db_path: str) -> None:
    Store(db_path).close()
    writer = HitWriter(lambda: Store(db_path, timeout=0.05),
                       HitFilter(Options.from_kwargs(sites=["example.com"])),
                       queue_size=5, batch_size=100, flush_interval=3600)
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    for round_ in range(3):
        for n in range(5):
            writer.put(_hit(round_ * 5 + n))
        writer.flush()
    assert writer.stats()["dropped"] >= 5, "kept hits are bounded by queue_size"
    blocker.execute("ROLLBACK")
    blocker.close()
    writer.flush()
    stats = writer.stats()
    assert stats["stored"] + stats["dropped"] == 15
    writer.close()


def test_read_only_database_drops(db_path: str) -> None:
    Store(db_path).close()

    def read_only() -> Store:
        store = Store(db_path)
        store.conn.execute("PRAGMA query_only = ON")
        return store

    writer = _writer(read_only)
    for n in range(10):
        writer.put(_hit(n))
    writer.flush()
    assert writer.stats() == {"queued": 0, "stored": 0, "dropped": 10, "skipped": {}}
    writer.close()


def test_full_disk_drops(db_path: str) -> None:
    Store(db_path).close()

    def tiny() -> Store:
        store = Store(db_path)
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute("PRAGMA max_page_count = %d" % pages)
        return store

    writer = _writer(tiny)
    for n in range(300):  # 300 new linkbacks do not fit in the pages there are
        writer.put(_hit(n))
    writer.flush()
    assert writer.stats()["dropped"] == 300 and writer.stats()["stored"] == 0
    writer.close()
    store = Store(db_path)
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.close()


def test_deleted_database_is_recreated(db_path: str) -> None:
    middleware = make_middleware(db_path)
    client = Client(middleware)
    visit(client)
    middleware.flush()
    for suffix in ("", "-wal", "-shm"):
        Path(db_path + suffix).unlink(missing_ok=True)
    visit(client, "/after")
    middleware.flush()
    middleware.close()
    store = Store(db_path)
    assert [r["target"] for r in store.linkbacks()] == ["http://example.com/after"]
    store.close()


# --- lifecycle ----------------------------------------------------------------------------------


def test_close_flushes_and_ignores_later_hits(db_path: str) -> None:
    middleware = make_middleware(db_path, flush_interval=3600)
    client = Client(middleware)
    visit(client)
    middleware.close()
    assert visit(client).status_code == 200  # the site still answers after close()
    store = Store(db_path)
    assert store.linkbacks()[0]["hits"] == 1
    store.close()


def test_writer_thread_writes_on_its_own(db_path: str) -> None:
    import time

    middleware = make_middleware(db_path, flush_interval=0.05)
    visit(Client(middleware))
    deadline = time.monotonic() + 10
    while middleware.stats()["stored"] < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert middleware.stats()["stored"] == 1
    middleware.close()


def _run(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(script))
    return subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=60,
        cwd=str(tmp_path), env={"PYTHONPATH": "%s:%s" % (ROOT, ROOT / "tests"), "PATH": "/usr/bin:/bin"},
    )


def test_normal_exit_flushes(db_path: str, tmp_path: Path) -> None:
    result = _run(
        """
        from werkzeug.test import Client
        from capture_support import make_middleware, visit
        mw = make_middleware(%r, flush_interval=3600)
        client = Client(mw)
        for i in range(25):
            visit(client, "/p%%d" %% i)
        # no flush(), no close(): the atexit hook writes the queue
        """ % db_path,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    store = Store(db_path)
    assert sum(r["hits"] for r in store.linkbacks()) == 25
    store.close()


def test_fork_safety(db_path: str, tmp_path: Path) -> None:
    """A child forked after the parent opened the database and queued hits writes only its
    own hits, through its own connection and writer thread."""
    result = _run(
        """
        import os, sys
        from werkzeug.test import Client
        from capture_support import make_middleware, visit
        mw = make_middleware(%r, flush_interval=3600)
        client = Client(mw)
        visit(client, "/parent-flushed")
        mw.flush()
        mw.store.linkbacks()  # the parent holds an open connection
        visit(client, "/parent-queued")  # and a queued hit the child must not write
        pid = os.fork()
        if pid == 0:
            for i in range(10):
                visit(client, "/child")
            sys.exit(0)  # a normal exit: atexit flushes the child's queue
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        mw.close()
        """ % db_path,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    store = Store(db_path)
    hits = {r["target"].rsplit("/", 1)[1]: r["hits"] for r in store.linkbacks()}
    assert hits == {"parent-flushed": 1, "parent-queued": 1, "child": 10}
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.close()


def test_exit_flushes_even_when_the_middleware_was_dropped(db_path: str, tmp_path: Path) -> None:
    result = _run(
        """
        import gc
        from werkzeug.test import Client
        from capture_support import make_middleware, visit
        mw = make_middleware(%r, flush_interval=3600)
        visit(Client(mw), "/kept")
        del mw
        gc.collect()  # the writer thread still holds the queue; atexit writes it
        """ % db_path,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    store = Store(db_path)
    assert [r["hits"] for r in store.linkbacks()] == [1]
    store.close()


def test_sites_added_in_the_manager_count_without_a_restart(mw: LinkbackMiddleware) -> None:
    client = Client(mw)
    visit(client, host="example.net")
    assert rows(mw) == []
    mw.store.ensure_sites(["example.net"])  # what the manager's "add a site" stores
    mw.writer.reload_blacklist_soon()
    visit(client, host="blog.example.net")
    (row,) = rows(mw)
    assert (row["site"], row["target"]) == ("example.net", "http://blog.example.net/post")
    # ... and its pages now advertise the protocol endpoints too.
    response = visit(client, host="example.net", referer=None)
    assert response.headers["X-Pingback"] == "http://example.net/.linkback/xmlrpc"


def test_head_requests_learn_the_endpoints_but_do_not_count(mw: LinkbackMiddleware) -> None:
    client = Client(mw)
    response = visit(client, method="HEAD")
    assert '<http://example.com/.linkback/webmention>; rel="webmention"' in response.headers.get("Link", "")
    assert response.headers["X-Pingback"] == "http://example.com/.linkback/xmlrpc"
    assert rows(mw) == []


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"display": {"limit": "ten"}}, id="display"),
        pytest.param({"protocol_limits": {"client": (0, "a minute")}}, id="protocol_limits"),
        pytest.param({"protocol_limits": {"everyone": (1, 1)}}, id="protocol_limits key"),
        pytest.param({"protocols": "yes"}, id="protocols"),
        pytest.param({"admin": 1}, id="admin"),
        pytest.param({"secret_key": 42}, id="secret_key"),
    ],
)
def test_other_parts_options_fail_at_construction(db_path: str, options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        LinkbackMiddleware(html_app, db_path, **options)
    assert next(iter(options)) in str(info.value)
