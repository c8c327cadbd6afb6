"""The crawler end to end: real SQLite files, real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from click.testing import CliRunner
from servers import pages_app, serve

from linkback import counting
from linkback.cli import main
from linkback.crawler import Crawler, _retry_after
from linkback.store import Store

TARGET = "https://example.com/post"
SITE = "example.com"
LINKING = '<html><head><title>A post | Blog</title></head><body><article><h1>A post</h1>' \
          '<p>I liked <a href="https://www.example.com/post/">this post</a> a lot.</p></article></body></html>'
NOT_LINKING = "<html><head><title>Other</title></head><body><p>Nothing here.</p></body></html>"


def crawler(db_path: str, **kwargs: Any) -> Crawler:
    options = {"threads": 2, "delay": 0.0, "allow_private_networks": True, "retry_base": 0.0,
               "fetch_authors": False}
    options.update(kwargs)
    return Crawler(db_path, **options)


def add_hits(store: Store, source: str, target: str = TARGET, *, day: str = "2024-05-01",
             bins: dict[int, int] | None = None) -> int:
    bins = bins or {1: 1}
    store.record_hits({(source, target, SITE, day): (sum(bins.values()), bins)})
    row = store.conn.execute("SELECT linkback_id FROM referrers WHERE url = ?", (source,)).fetchone()
    return row[0]


def test_a_linking_page_becomes_verified_with_its_details(db_path: str) -> None:
    app = pages_app({"/post": LINKING})
    with serve(app) as base:
        store = Store(db_path)
        linkback_id = add_hits(store, base + "/post")
        summary = crawler(db_path).run_once()
    row = store.linkback(linkback_id)
    assert summary["processed"] == 1 and summary["verified"] == 1
    assert row["status"] == "verified"
    assert row["title"] == "A post"
    assert row["blurb"] == "A post I liked this post a lot."
    assert row["blurb"][row["blurb_start"]:row["blurb_end"]] == "this post"
    assert row["verified_at"] and row["content_hash"]
    history = store.crawl_history(linkback_id)
    assert history[0]["outcome"] == "verified" and history[0]["http_status"] == 200
    job = store.crawl_job(linkback_id)
    assert job["checks"] == 1 and job["due_at"] > time.time() + 3600  # re-check in about a day
    # Our User-Agent names linkback.
    assert "linkback" in app.requests[0][2]["User-Agent"]


def test_a_page_without_the_link_is_unverified(db_path: str) -> None:
    with serve(pages_app({"/p": NOT_LINKING})) as base:
        store = Store(db_path)
        linkback_id = add_hits(store, base + "/p")
        crawler(db_path).run_once()
    assert store.linkback(linkback_id)["status"] == "unverified"
    assert store.linkback(linkback_id)["title"] is None  # nothing of it is kept for display
    assert store.crawl_history(linkback_id)[0]["outcome"] == "not-linking"


def test_private_addresses_are_refused_by_default(db_path: str) -> None:
    app = pages_app({"/post": LINKING})
    with serve(app) as base:
        store = Store(db_path)
        linkback_id = add_hits(store, base + "/post")
        crawler(db_path, allow_private_networks=False).run_once()
    assert app.requests == []
    assert store.linkback(linkback_id)["status"] == "unverified"
    assert store.crawl_history(linkback_id)[0]["outcome"] == "refused"


@pytest.mark.parametrize("answer,gone", [
    pytest.param((404, {}, "no"), True, id="404"),
    pytest.param((410, {}, "gone"), True, id="410"),
    pytest.param('<html><head><meta http-equiv="Status" content="410 Gone"></head><body>'
                 '<a href="https://example.com/post">x</a></body></html>', True, id="meta status 410"),
    pytest.param(NOT_LINKING, True, id="no longer links"),
])
def test_a_verified_linkback_that_disappears_becomes_gone(db_path: str, answer: Any, gone: bool) -> None:
    pages: dict[str, Any] = {"/post": LINKING}
    with serve(pages_app(pages)) as base:
        store = Store(db_path)
        linkback_id = add_hits(store, base + "/post")
        crawl = crawler(db_path)
        crawl.run_once()
        assert store.linkback(linkback_id)["status"] == "verified"
        pages["/post"] = answer
        store.recrawl_linkbacks([linkback_id])
        crawl.run_once()
    row = store.linkback(linkback_id)
    assert row["status"] == "gone"
    assert row["title"] == "A post"  # history kept
    assert [h["outcome"] for h in store.crawl_history(linkback_id)][0] in ("gone", "not-linking")


def test_moderation_hold_approval_and_changed_content(db_path: str) -> None:
    pages: dict[str, Any] = {"/post": LINKING}
    with serve(pages_app(pages)) as base:
        store = Store(db_path)
        store.add_site(SITE, moderation="hold")
        linkback_id = add_hits(store, base + "/post")
        crawl = crawler(db_path)
        crawl.run_once()
        assert store.linkback(linkback_id)["status"] == "held"
        store.approve_linkbacks([linkback_id])
        store.recrawl_linkbacks([linkback_id])
        crawl.run_once()
        row = store.linkback(linkback_id)
        assert (row["status"], row["approved"]) == ("verified", 1)  # same content: stays approved
        pages["/post"] = LINKING.replace("a lot", "not at all")
        store.recrawl_linkbacks([linkback_id])
        crawl.run_once()
    row = store.linkback(linkback_id)
    assert (row["status"], row["approved"]) == ("held", 0)
    assert "not at all" in row["blurb"]


@pytest.mark.parametrize("status", ["blocked", "hidden"])
def test_blocked_and_hidden_linkbacks_keep_their_status(db_path: str, status: str) -> None:
    with serve(pages_app({"/post": LINKING})) as base:
        store = Store(db_path)
        linkback_id = add_hits(store, base + "/post")
        store.set_linkbacks_status([linkback_id], status)
        crawler(db_path).run_once()
    assert store.linkback(linkback_id)["status"] == status


def test_transient_failures_retry_then_end_in_error(db_path: str) -> None:
    app = pages_app({"/down": (503, {}, "busy")})
    with serve(app) as base:
        store = Store(db_path)
        linkback_id = add_hits(store, base + "/down")
        summary = crawler(db_path, max_attempts=3).run_once()
    assert len(app.requests) == 3
    assert summary["retry"] == 2 and summary["error"] == 1
    assert store.linkback(linkback_id)["status"] == "error"
    assert [h["outcome"] for h in store.crawl_history(linkback_id)] == ["retry"] * 3
    assert store.crawl_job(linkback_id)["last_error"] == "HTTP 503"


def test_a_connection_failure_is_retried(db_path: str) -> None:
    store = Store(db_path)
    with serve(pages_app({})) as base:
        pass  # the port is closed now: connections are refused
    linkback_id = add_hits(store, base + "/post")
    summary = crawler(db_path, max_attempts=2).run_once()
    assert summary["retry"] == 1 and summary["error"] == 1
    assert store.linkback(linkback_id)["status"] == "error"


def test_429_retry_after_is_honoured(db_path: str) -> None:
    app = pages_app({"/busy": (429, {"Retry-After": "7200"}, "slow down")})
    with serve(app) as base:
        store = Store(db_path)
        linkback_id = add_hits(store, base + "/busy")
        summary = crawler(db_path).run_once()
    job = store.crawl_job(linkback_id)
    assert summary["retry"] == 1 and len(app.requests) == 1
    assert job["attempts"] == 1 and job["due_at"] >= time.time() + 7000
    assert store.linkback(linkback_id)["status"] == "pending"


def test_retry_after_parsing() -> None:
    assert _retry_after("120") == 120.0
    assert _retry_after("10000000") == 86400.0
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert _retry_after("soon") is None
    assert _retry_after(None) is None


FRONT = """<html><head><title>My blog</title></head><body>
<article class="h-entry"><h2><a class="u-url p-name" href="/2024/05/first/">First</a></h2>
<div class="e-content"><p>See <a href="https://example.com/post">this post</a>.</p></div></article>
<article class="h-entry"><h2><a class="u-url p-name" href="/2024/04/second/">Second</a></h2>
<div class="e-content"><p>Nothing.</p></div></article></body></html>"""
ENTRY = """<html><head><title>First | My blog</title></head><body>
<article class="h-entry"><h1 class="p-name">First</h1>
<div class="e-content"><p>See <a href="https://example.com/post">this post</a>.</p></div></article></body></html>"""


def test_front_page_and_permalink_merge_into_one_linkback(db_path: str) -> None:
    with serve(pages_app({"/": FRONT, "/2024/05/first/": ENTRY})) as base:
        store = Store(db_path)
        permalink = base + "/2024/05/first/"
        entry_id = add_hits(store, permalink, bins={1: 2, 2: 1}, day="2024-05-01")
        front_id = add_hits(store, base + "/", bins={1: 1, 3: 1}, day="2024-05-01")
        add_hits(store, base + "/", bins={5: 1}, day="2024-05-02")
        summary = crawler(db_path, threads=1).run_once()
        assert summary["merged"] == 1
        rows = store.linkbacks(target=TARGET)
        assert len(rows) == 1
        row = rows[0]
        assert row["id"] == entry_id and store.linkback(front_id) is None
        assert row["permalink"] == permalink and row["title"] == "First"
        assert row["hits"] == 3 + 2 + 1
        days = {d["day"]: d for d in store.daily(entry_id)}
        merged = {1: 3, 2: 1, 3: 1}
        assert days["2024-05-01"]["hits"] == 5
        assert days["2024-05-01"]["value"] == pytest.approx(counting.compensated_value(merged))
        assert days["2024-05-02"]["hits"] == 1
        assert row["value"] == pytest.approx(sum(d["value"] for d in days.values()), abs=0.01)
        assert store.crawl_job(front_id) is None
        # Later hits from the front page count on the merged linkback.
        add_hits(store, base + "/", bins={9: 1}, day="2024-05-03")
        assert store.linkback(entry_id)["hits"] == 7
        assert store.count_linkbacks(target=TARGET) == 1


def test_front_page_alone_is_rekeyed_on_the_permalink(db_path: str) -> None:
    with serve(pages_app({"/": FRONT, "/2024/05/first/": ENTRY})) as base:
        store = Store(db_path)
        front_id = add_hits(store, base + "/")
        crawler(db_path).run_once()
        row = store.linkback(front_id)
        assert row["permalink"] == base + "/2024/05/first/"
        assert row["status"] == "verified" and row["title"] == "First"
        # The re-check fetches the permalink, which stays when the post leaves the front page.
        assert store.crawl_job(front_id)["url"] == base + "/2024/05/first/"


def test_jobs_are_claimed_by_one_process_only(db_path: str) -> None:
    store = Store(db_path)
    for i in range(40):
        add_hits(store, "https://s%d.example/page" % i)
    claimed: list[list[int]] = []
    barrier = threading.Barrier(4)

    def claim(owner: str) -> None:
        mine = Store(db_path)  # a separate connection, as another process would have
        barrier.wait()
        got = []
        while True:
            jobs = mine.claim_jobs(owner, limit=3)
            if not jobs:
                break
            got.extend(j["linkback_id"] for j in jobs)
        claimed.append(got)
        mine.close()

    threads = [threading.Thread(target=claim, args=("w%d" % i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [i for got in claimed for i in got]
    assert len(everything) == 40 and len(set(everything)) == 40


def test_an_expired_lease_makes_the_job_due_again(db_path: str) -> None:
    store = Store(db_path)
    add_hits(store, "https://a.example/")
    assert len(store.claim_jobs("dead-worker", lease=60)) == 1
    assert store.claim_jobs("other") == []
    assert len(store.claim_jobs("other", now=time.time() + 61)) == 1


def test_per_host_delay_spaces_requests(db_path: str) -> None:
    """Two jobs on one host wait for each other; no timing is asserted, only the outcome."""
    app = pages_app({"/a": LINKING, "/b": LINKING})
    with serve(app) as base:
        store = Store(db_path)
        add_hits(store, base + "/a")
        add_hits(store, base + "/b")
        summary = crawler(db_path, threads=2, delay=0.05).run_once()
    assert summary["verified"] == 2 and len(app.requests) == 2


def test_hosts_are_leased_across_store_connections(db_path: str) -> None:
    store = Store(db_path)
    for path in ("a", "b", "c"):
        add_hits(store, "https://one.example/" + path)
    add_hits(store, "https://two.example/")
    now = time.time()
    first = store.claim_jobs("w1", limit=10, lease=60, per_host=True, now=now)
    assert sorted(j["host"] for j in first) == ["one.example", "two.example"]
    other = Store(db_path)  # another process: both hosts are busy
    assert other.claim_jobs("w2", limit=10, per_host=True, now=now) == []
    one = next(j for j in first if j["host"] == "one.example")
    store.apply_crawl(one["linkback_id"], "w1", {"verified": False}, next_check_at=None)
    store.release_host("one.example", "w1", next_at=now + 10)
    assert other.claim_jobs("w2", limit=10, per_host=True, now=now + 5) == []  # inside the delay
    again = other.claim_jobs("w2", limit=10, per_host=True, now=now + 10)
    assert [j["host"] for j in again] == ["one.example"]
    # w1 died holding two.example: its lease runs out and the host is free again.
    later = store.claim_jobs("w3", limit=10, per_host=True, now=now + 61)
    assert [j["host"] for j in later] == ["two.example"]
    store.release_host("one.example", "w1", next_at=now + 999)  # no longer w1's: ignored
    assert other.claim_jobs("w2", limit=10, per_host=True, now=now + 62) == []  # still w2's


OTHER_PROCESS = """
import json, socket, sys
from linkback.crawler import Crawler
db, port, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
crawl = Crawler(db, threads=2, delay=delay, allow_private_networks=True, retry_base=0.0,
                fetch_authors=False,
                resolver=lambda host, _port: [(socket.AF_INET, ("127.0.0.1", port))])
print("ready", flush=True)
sys.stdin.readline()
summary = crawl.run_once()
crawl.stop()
print(json.dumps(summary), flush=True)
"""


def test_politeness_holds_across_crawlers_sharing_a_database(db_path: str) -> None:
    """Two crawlers over three hosts: one here, one in a real second process.

    The server records when each request to a host starts and ends: the facts asserted are
    that two requests to one host never overlap and that the next one starts at least
    ``delay`` after the previous one ended, which the delay itself guarantees.
    """
    delay = 0.15
    lock = threading.Lock()
    events: dict[str, list[tuple[float, float]]] = {}
    in_flight: dict[str, int] = {}
    most: dict[str, int] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        host = environ["HTTP_HOST"].split(":")[0]
        with lock:
            in_flight[host] = in_flight.get(host, 0) + 1
            most[host] = max(most.get(host, 0), in_flight[host])
            began = time.monotonic()
        time.sleep(0.03)  # long enough for a second request to overlap, were one let through
        with lock:
            in_flight[host] -= 1
            events.setdefault(host, []).append((began, time.monotonic()))
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [LINKING.encode()]

    hosts = ["a.test", "b.test", "c.test"]
    with serve(app) as base:
        port = int(base.rsplit(":", 1)[1])

        def resolver(host: str, _port: int) -> list[Any]:
            return [(socket.AF_INET, ("127.0.0.1", port))]

        store = Store(db_path)
        for host in hosts:
            for i in range(3):
                add_hits(store, "http://%s:%d/p%d" % (host, port, i))
        with subprocess.Popen(
            [sys.executable, "-c", OTHER_PROCESS, db_path, str(port), str(delay)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        ) as other:
            try:
                assert other.stdout is not None and other.stdin is not None
                assert other.stdout.readline().strip() == "ready"
                other.stdin.write("go\n")
                other.stdin.flush()
                here = crawler(db_path, threads=2, delay=delay, resolver=resolver)
                summary = here.run_once()
                here.stop()
                there = json.loads(other.stdout.readline())
                assert other.wait(60) == 0
            finally:
                if other.poll() is None:
                    other.kill()
    assert summary["verified"] + there["verified"] == 9
    assert sorted(events) == hosts and all(len(events[h]) == 3 for h in hosts)
    assert all(most[h] == 1 for h in hosts)
    for host in hosts:
        spans = sorted(events[host])
        for (_, ended), (began, _) in zip(spans, spans[1:], strict=False):
            assert began - ended >= delay


def test_background_threads_start_and_stop(db_path: str) -> None:
    with serve(pages_app({"/post": LINKING})) as base:
        store = Store(db_path)
        linkback_id = add_hits(store, base + "/post")
        crawl = crawler(db_path)
        crawl.start()
        try:
            for _ in range(200):
                if store.linkback(linkback_id)["status"] != "pending":
                    break
                time.sleep(0.05)
        finally:
            crawl.stop()
    assert store.linkback(linkback_id)["status"] == "verified"
    assert not any(t.is_alive() for t in crawl._threads)


def test_a_discussion_page_is_recorded_as_a_discussion(db_path: str) -> None:
    page = """<html><body><table><tr class="athing" id="42"><td class="title">
    <span class="titleline"><a href="https://example.com/post">Example post</a></span></td></tr>
    <tr><td class="subtext"><span class="score">57 points</span> by x |
    <a href="item?id=42">12&nbsp;comments</a></td></tr></table></body></html>"""
    with serve(pages_app({"/item": page})) as base:
        store = Store(db_path)
        linkback_id = add_hits(store, base + "/item?id=42")
        resolver_page = crawler(db_path)
        resolver_page.run_once()
    row = store.linkback(linkback_id)
    # Served from 127.0.0.1, not news.ycombinator.com: verified as a plain referrer.
    assert row["status"] == "verified" and row["kind"] == "referrer"


def test_cli_crawl_once(db_path: str) -> None:
    with serve(pages_app({"/post": LINKING, "/other": NOT_LINKING})) as base:
        store = Store(db_path)
        add_hits(store, base + "/post")
        add_hits(store, base + "/other")
        store.close()
        result = CliRunner().invoke(
            main, ["--db", db_path, "crawl", "--once", "--allow-private-networks", "--delay", "0"]
        )
    assert result.exit_code == 0, result.output
    assert "Processed:  2" in result.output and "Verified:   1" in result.output
    assert "Unverified: 1" in result.output


def test_cli_crawl_needs_a_database(tmp_path: Any) -> None:
    result = CliRunner().invoke(main, ["--db", str(tmp_path / "missing.db"), "crawl", "--once"])
    assert result.exit_code != 0 and "no database" in result.output


def test_cli_refuses_loopback_without_the_flag(db_path: str) -> None:
    app = pages_app({"/post": LINKING})
    with serve(app) as base:
        store = Store(db_path)
        add_hits(store, base + "/post")
        store.close()
        result = CliRunner().invoke(main, ["--db", db_path, "crawl", "--once", "--delay", "0"])
    assert result.exit_code == 0 and app.requests == []
    assert "Unverified: 1" in result.output


def test_the_middleware_crawls_what_it_captured(db_path: str) -> None:
    from werkzeug.test import Client
    from werkzeug.wrappers import Response

    from linkback import LinkbackMiddleware

    def app(environ: Any, start_response: Any) -> Any:
        return Response("<p>our page</p>", content_type="text/html")(environ, start_response)

    with serve(pages_app({"/post": LINKING.replace("https://www.example.com/post/", "http://example.com/post")})) as base:
        middleware = LinkbackMiddleware(app, db_path, sites=["example.com"], crawl_delay=0,
                                        allow_private_networks=True)
        try:
            Client(middleware).get("/post", base_url="http://example.com",
                                   headers={"Referer": base + "/post", "User-Agent": "Mozilla/5.0 Firefox/120.0"})
            middleware.flush()
            store = Store(db_path)
            status = None
            for _ in range(200):
                middleware.crawler.wake()
                rows = store.linkbacks()
                status = rows[0]["status"] if rows else None
                if status not in (None, "pending"):
                    break
                time.sleep(0.05)
            assert status == "verified"
        finally:
            middleware.close()
    assert middleware.crawler is not None and not any(t.is_alive() for t in middleware.crawler._threads)


def _entry_by(author_url: str) -> str:
    return ('<html><body><article class="h-entry"><a class="p-author h-card" href="%s">Ann</a>'
            '<div class="e-content"><p>I liked <a href="https://www.example.com/post/">this post</a> a lot.</p>'
            "</div></article></body></html>" % author_url)


AUTHOR_PAGE = ('<html><body><div class="h-card"><img class="u-photo" src="/ann.jpg">'
               '<a class="p-name u-url" href="/about">Ann</a></div></body></html>')


def _timed_host_app(pages: dict[str, str]) -> tuple[Any, dict[str, tuple[float, float]]]:
    """A WSGI app serving ``pages`` by host and path, recording when each request ran."""
    times: dict[str, tuple[float, float]] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        key = environ["HTTP_HOST"].split(":")[0] + environ["PATH_INFO"]
        began = time.monotonic()
        body = pages.get(key)
        times[key] = (began, time.monotonic())
        if body is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no"]
        if body.startswith("redirect:"):
            start_response("302 Found", [("Location", body[len("redirect:"):])])
            return [b""]
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [body.encode()]

    return app, times


def _crawl_blog(db_path: str, pages: dict[str, str], author_host: str, **kwargs: Any) -> tuple[Store, int, dict[str, Any], Any]:
    """Crawl a post on blog.test whose author's page is on ``author_host``, both served here."""
    app, times = _timed_host_app(pages)
    with serve(app) as base:
        port = int(base.rsplit(":", 1)[1])
        pages["blog.test/post"] = _entry_by("http://%s:%d/about" % (author_host, port))
        pages[author_host + "/about"] = AUTHOR_PAGE
        store = Store(db_path)
        linkback_id = add_hits(store, "http://blog.test:%d/post" % port)
        here = crawler(db_path, threads=1, fetch_authors=True,
                       resolver=lambda host, _port: [(socket.AF_INET, ("127.0.0.1", port))], **kwargs)
        summary = here.run_once()
    return store, linkback_id, summary, times


def test_the_authors_page_on_the_same_host_waits_the_per_host_delay(db_path: str) -> None:
    delay = 0.3
    store, linkback_id, summary, times = _crawl_blog(db_path, {}, "blog.test", delay=delay)
    row = store.linkback(linkback_id)
    assert summary["verified"] == 1
    assert row["author_name"] == "Ann" and row["author_photo"].endswith("/ann.jpg")
    assert times["blog.test/about"][0] - times["blog.test/post"][1] >= delay


def test_the_authors_page_on_a_busy_host_is_left_for_a_later_check(db_path: str) -> None:
    Store(db_path).lease_host("me.blog.test", "another-crawler", lease=60)
    store, linkback_id, summary, times = _crawl_blog(db_path, {}, "me.blog.test")
    row = store.linkback(linkback_id)
    assert summary["verified"] == 1 and row["author_name"] == "Ann" and row["author_photo"] is None
    assert "me.blog.test/about" not in times  # never asked while another crawler holds the host


def test_the_authors_page_on_another_host_of_the_site_is_leased_and_freed(db_path: str) -> None:
    store, linkback_id, summary, times = _crawl_blog(db_path, {}, "me.blog.test", delay=30.0)
    assert store.linkback(linkback_id)["author_photo"].endswith("/ann.jpg")
    assert "me.blog.test/about" in times
    # Freed with the delay ahead: nobody else gets the host before it has passed.
    assert not store.lease_host("me.blog.test", "another-crawler")
    assert store.lease_host("me.blog.test", "another-crawler", now=time.time() + 31)


def _crawl_redirect(db_path: str, store_setup: Any, runs: int = 1, **kwargs: Any) -> tuple[Store, int, list[dict[str, Any]], Any]:
    """Crawl a.test/post, which redirects to b.test/post (the page that links), ``runs`` times
    (a second after each other)."""
    pages: dict[str, str] = {}
    app, times = _timed_host_app(pages)
    with serve(app) as base:
        port = int(base.rsplit(":", 1)[1])
        pages["a.test/post"] = "redirect:http://b.test:%d/post" % port
        pages["b.test/post"] = LINKING
        store = Store(db_path)
        store_setup(store)
        linkback_id = add_hits(store, "http://a.test:%d/post" % port)
        here = crawler(db_path, threads=1,
                       resolver=lambda host, _port: [(socket.AF_INET, ("127.0.0.1", port))], **kwargs)
        summaries = []
        for run in range(runs):
            if run:
                time.sleep(1.1)
            summaries.append(here.run_once())
    return store, linkback_id, summaries, times


def test_a_redirect_to_another_host_leases_it_and_frees_it_with_the_delay(db_path: str) -> None:
    store, linkback_id, (summary,), times = _crawl_redirect(db_path, lambda store: None, delay=30.0)
    assert summary["verified"] == 1 and store.linkback(linkback_id)["status"] == "verified"
    assert "b.test/post" in times
    assert not store.lease_host("b.test", "another-crawler")  # inside its delay
    assert store.lease_host("b.test", "another-crawler", now=time.time() + 31)


def test_a_redirect_to_a_busy_host_is_deferred_without_spending_an_attempt(db_path: str) -> None:
    """Another crawler holds b.test: the job is given back, due again shortly, and b.test is
    not asked; once the other's lease is over, the next run verifies the page."""
    holds = {}

    def another_crawler_holds_b(store: Store) -> None:
        holds["until"] = time.monotonic() + 0.5
        store.lease_host("b.test", "another-crawler", lease=0.5)

    store, linkback_id, (first, second), times = _crawl_redirect(db_path, another_crawler_holds_b, runs=2)
    assert first["deferred"] == 1 and first["verified"] == 0
    assert first["retry"] == first["error"] == 0  # no attempt spent on it
    assert second["verified"] == 1 and store.linkback(linkback_id)["status"] == "verified"
    assert times["b.test/post"][0] >= holds["until"]  # never asked while the other held it
    assert [h["outcome"] for h in store.crawl_history(linkback_id)] == ["verified"]
