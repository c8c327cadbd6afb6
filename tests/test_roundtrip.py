"""Two example blogs on loopback, each behind its own middleware and database, notify each
other with each protocol; each one's crawler verifies, and the links show in the blocks."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from werkzeug.wrappers import Request, Response

from linkback import LinkbackMiddleware
from linkback.crawler import Crawler
from linkback.protocols import protocol_tags, send_linkbacks
from linkback.store import Store
from tests.servers import serve

PROTOCOLS = ("webmention", "pingback", "trackback")


def make_blog(name: str, base: dict[str, str], other: dict[str, str]) -> Callable[..., Any]:
    """A minimal blog: ``/<protocol>`` is a post linking to the other blog's same page."""

    @Request.application
    def app(request: Request) -> Response:
        protocol = request.path.strip("/")
        if protocol not in PROTOCOLS:
            return Response("not found", status=404)
        url = base["url"] + request.path
        title = "%s on %s" % (name, protocol)
        html = (
            "<!doctype html><html><head><title>%s</title>%s</head><body>"
            '<nav><a href="https://nav.example/">elsewhere</a></nav>'
            '<article class="h-entry"><h1 class="p-name">%s</h1>'
            '<div class="e-content"><p>I read <a href="%s/%s">the other post</a> and agree.</p></div>'
            "</article></body></html>"
        ) % (title, protocol_tags(url, title=title), title, other["url"], protocol)
        return Response(html, content_type="text/html; charset=utf-8")

    return app


@pytest.fixture
def blogs(tmp_path: Path) -> Any:
    with ExitStack() as stack:
        a: dict[str, str] = {}
        b: dict[str, str] = {}
        sites = {}
        for name, own, other in (("alice", a, b), ("bob", b, a)):
            middleware = LinkbackMiddleware(
                make_blog(name, own, other),
                database=str(tmp_path / ("%s.db" % name)),
                sites=["127.0.0.1"],
                crawl=False,
                allow_private_networks=True,
            )
            stack.callback(middleware.close)
            own["url"] = stack.enter_context(serve(middleware))
            own["db"] = middleware.database
            sites[name] = own
        yield sites


def test_blogs_notify_each_other_with_each_protocol(blogs: dict[str, dict[str, str]]) -> None:
    alice, bob = blogs["alice"], blogs["bob"]
    for sender, receiver in ((alice, bob), (bob, alice)):
        store = Store(sender["db"])
        for protocol in PROTOCOLS:
            results = send_linkbacks(
                sender["url"] + "/" + protocol,
                store=store,
                protocols=[protocol],
                allow_private_networks=True,
                host_delay=0,
            )
            # Only the link in the entry is notified, never the navigation.
            assert [(r.target, r.protocol, r.outcome) for r in results] == [
                (receiver["url"] + "/" + protocol, protocol, "sent")
            ], results[0].detail
        store.close()

    for site in (alice, bob):
        summary = Crawler(
            site["db"], threads=1, delay=0, allow_private_networks=True, fetch_authors=False
        ).run_once()
        assert summary["verified"] == 3, summary

    for site, other in ((alice, bob), (bob, alice)):
        store = Store(site["db"])
        rows = {r["kind"]: r for r in store.linkbacks()}
        assert set(rows) == set(PROTOCOLS)
        for protocol, row in rows.items():
            assert row["status"] == "verified"
            assert row["source"] == other["url"] + "/" + protocol
            assert row["target"] == site["url"] + "/" + protocol
            assert row["title"] and protocol in row["title"]
        try:
            from linkback.render import render
        except ImportError:  # pragma: no cover - the display ships with linkback
            continue
        for protocol in PROTOCOLS:
            block = str(render(site["url"] + "/" + protocol, database=site["db"]))
            assert other["url"] + "/" + protocol in block
        store.close()


def test_resend_sends_only_what_changed_and_retracts_removed_links(
    blogs: dict[str, dict[str, str]],
) -> None:
    alice, bob = blogs["alice"], blogs["bob"]
    source = alice["url"] + "/webmention"
    store = Store(alice["db"])
    page = (
        '<article class="h-entry"><div class="e-content"><a href="%s/webmention">x</a></div></article>'
        % bob["url"]
    )
    first = send_linkbacks(
        source, html=page, store=store, allow_private_networks=True, host_delay=0
    )
    assert [r.outcome for r in first] == ["sent"]
    again = send_linkbacks(
        source, html=page, store=store, allow_private_networks=True, host_delay=0
    )
    assert [r.outcome for r in again] == ["unchanged"]
    edited = page.replace(">x<", ">x, edited<")
    assert [
        r.outcome
        for r in send_linkbacks(
            source, html=edited, store=store, allow_private_networks=True, host_delay=0
        )
    ] == ["sent"]
    # The link is gone from our page: the receiver is told, re-verifies and deletes it.
    Crawler(
        bob["db"], threads=1, delay=0, allow_private_networks=True, fetch_authors=False
    ).run_once()
    assert Store(bob["db"]).linkbacks()[0]["status"] == "verified"
    removed = send_linkbacks(
        source,
        html="<article><p>no links now</p></article>",
        store=store,
        allow_private_networks=True,
        host_delay=0,
    )
    assert [(r.outcome, r.linked) for r in removed] == [("sent", False)]
    assert store.sends(source)[bob["url"] + "/webmention"]["linked"] == 0
    store.close()


def test_removed_source_link_becomes_gone(tmp_path: Path) -> None:
    """A Webmention whose source stops linking is deleted (status gone) on re-verification."""
    pages: dict[str, Any] = {}

    @Request.application
    def source_site(request: Request) -> Response:
        body = pages.get(request.path)
        if body is None:
            return Response("gone", status=410)
        return Response(body, content_type="text/html")

    @Request.application
    def target_site(request: Request) -> Response:
        return Response("<p>target</p>", content_type="text/html")

    middleware = LinkbackMiddleware(
        target_site,
        database=str(tmp_path / "t.db"),
        sites=["127.0.0.1"],
        crawl=False,
        allow_private_networks=True,
    )
    with serve(source_site) as source_url, serve(middleware) as target_url:
        target = target_url + "/post"
        pages["/a"] = '<p><img src="%s"></p>' % target  # an image counts, as Webmention says
        pages["/b"] = '<meta http-equiv="Status" content="410 Gone"><a href="%s">x</a>' % target
        sender_store = Store(str(tmp_path / "s.db"))
        for path in ("/a", "/b"):
            # What we send from is our copy; what the receiver verifies is what it fetches.
            result = send_linkbacks(
                source_url + path,
                html='<a href="%s">x</a>' % target,
                store=sender_store,
                allow_private_networks=True,
                host_delay=0,
            )
            assert [r.outcome for r in result] == ["sent"]
        crawler = Crawler(
            middleware.database,
            threads=1,
            delay=0,
            allow_private_networks=True,
            fetch_authors=False,
        )
        crawler.run_once()
        statuses = {
            r["source"].rsplit("/", 1)[1]: r["status"] for r in middleware.store.linkbacks()
        }
        assert statuses == {"a": "verified", "b": "unverified"}
        # An hour later the source removes its link and says so with a new Webmention.
        # (Within a minute of a check, a repeat would wait for the re-check interval.)
        with middleware.store.write() as conn:
            conn.execute("UPDATE fetches SET fetched_at = '2000-01-01T00:00:00Z'")
        pages["/a"] = "<p>nothing here any more</p>"
        result = send_linkbacks(
            source_url + "/a",
            html='<a href="%s">x</a>' % target,
            store=sender_store,
            allow_private_networks=True,
            host_delay=0,
            force=True,
        )
        assert result[0].outcome == "sent"
        crawler.run_once()
        statuses = {
            r["source"].rsplit("/", 1)[1]: r["status"] for r in middleware.store.linkbacks()
        }
        assert statuses["a"] == "gone"
        sender_store.close()
    middleware.close()


def test_approved_mention_with_changed_content_returns_to_held(tmp_path: Path) -> None:
    """On a site that holds for moderation, an approved author cannot swap content in unseen."""
    pages: dict[str, str] = {}

    @Request.application
    def source_site(request: Request) -> Response:
        return Response(pages.get(request.path, ""), content_type="text/html")

    @Request.application
    def target_site(request: Request) -> Response:
        return Response("<p>target</p>", content_type="text/html")

    middleware = LinkbackMiddleware(
        target_site,
        database=str(tmp_path / "t.db"),
        sites=["127.0.0.1"],
        crawl=False,
        allow_private_networks=True,
    )
    store = middleware.store
    store.add_site("127.0.0.1", moderation="hold")
    crawler = Crawler(
        middleware.database, threads=1, delay=0, allow_private_networks=True, fetch_authors=False
    )
    with serve(source_site) as source_url, serve(middleware) as target_url:
        target = target_url + "/post"
        pages["/reply"] = (
            '<article><h1>Kind words</h1><p>Nice <a href="%s">post</a>.</p></article>' % target
        )

        def mention() -> None:
            with store.write() as conn:  # the previous check was long ago
                conn.execute("UPDATE fetches SET fetched_at = '2000-01-01T00:00:00Z'")
            [result] = send_linkbacks(
                source_url + "/reply",
                html=pages["/reply"],
                allow_private_networks=True,
                host_delay=0,
            )
            assert result.outcome == "sent"
            crawler.run_once()

        mention()
        [row] = store.linkbacks()
        assert row["status"] == "held"
        store.approve_linkbacks([row["id"]])
        mention()  # unchanged content: stays published
        assert store.linkback(row["id"])["status"] == "verified"
        pages["/reply"] = (
            pages["/reply"].replace("Kind words", "Buy pills").replace("Nice", "Cheap pills")
        )
        mention()
        assert store.linkback(row["id"])["status"] == "held"
    middleware.close()
