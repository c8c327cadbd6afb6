"""The TrackBack 1.2 receiver."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from linkback.protocols import trackback_url
from tests.protocol_helpers import POST, SITE, blog, receiving, trackback

SOURCE = "https://mt.example.org/archives/000123.html"


def answer(response) -> tuple[str, str | None]:  # type: ignore[no-untyped-def]
    assert response.mimetype == "text/xml"
    root = etree.fromstring(response.get_data())
    assert root.tag == "response"
    return root.findtext("error"), root.findtext("message")


def test_ping_accepted_claims_kept_not_shown(tmp_path: Path) -> None:
    with receiving(tmp_path) as (middleware, client):
        response = trackback(
            client,
            "/post",
            {
                "url": SOURCE,
                "title": "<script>alert(1)</script>My &amp; reply " + "x" * 500,
                "excerpt": "<p>Some  text</p>",
                "blog_name": "MT blog",
            },
        )
        assert response.status_code == 200
        assert answer(response) == ("0", None)
        [row] = middleware.store.linkbacks()
        assert (row["kind"], row["status"], row["source"], row["target"]) == (
            "trackback",
            "pending",
            SOURCE,
            POST,
        )
        assert row["title"] is None and row["blurb"] is None  # the crawl result is what is shown
        [note] = middleware.store.notifications(row["id"])
        assert note["excerpt"] == "Some text"
        assert note["blog_name"] == "MT blog"
        assert note["title"].startswith("alert(1) My & reply xxx") and len(note["title"]) == 300


def test_ping_url_matches_the_tags_helper(tmp_path: Path) -> None:
    pages = {"/blog/post": "<p>x</p>"}
    with receiving(tmp_path, app=blog(pages)) as (middleware, client):
        url = trackback_url("https://example.com/blog/post?id=3")
        path = url.split(SITE, 1)[1].removeprefix("/.linkback/trackback")
        assert answer(trackback(client, path, {"url": SOURCE}))[0] == "0"
        [row] = middleware.store.linkbacks()
        assert row["target"] == "https://example.com/blog/post?id=3"


@pytest.mark.parametrize(
    ("path", "data", "message"),
    [
        pytest.param("/post", {}, "url is missing", id="no url"),
        pytest.param("/post", {"title": "x"}, "url is missing", id="title only"),
        pytest.param("/post", {"url": "javascript:alert(1)"}, "source must be", id="bad url"),
        pytest.param("/missing", {"url": SOURCE}, "does not exist", id="no such page"),
        pytest.param(
            "/post", {"url": "https://example.com/post"}, "different pages", id="ping from itself"
        ),
        pytest.param("/post", {"url": "https://spam.example/x"}, "not accepted", id="blacklisted"),
    ],
)
def test_errors(tmp_path: Path, path: str, data: dict[str, str], message: str) -> None:
    with receiving(tmp_path, blacklist=["spam.example"]) as (middleware, client):
        response = trackback(client, path, data)
        assert response.status_code == 200
        error, text = answer(response)
        assert error == "1" and text is not None and message in text
        assert middleware.store.linkbacks() == []


def test_get_is_refused_with_an_error_document(tmp_path: Path) -> None:
    with receiving(tmp_path) as (_middleware, client):
        response = client.get("/.linkback/trackback/post?url=" + SOURCE, headers={"Host": SITE})
        assert response.status_code == 405
        assert answer(response)[0] == "1"


def test_charset_parameter_is_honoured(tmp_path: Path) -> None:
    with receiving(tmp_path) as (middleware, client):
        body = "url=%s&title=Caf%%E9&blog_name=%%E9t%%E9" % SOURCE
        response = client.post(
            "/.linkback/trackback/post",
            data=body,
            headers={"Host": SITE},
            base_url="https://example.com",
            content_type="application/x-www-form-urlencoded; charset=iso-8859-1",
        )
        assert answer(response)[0] == "0"
        [row] = middleware.store.linkbacks()
        [note] = middleware.store.notifications(row["id"])
        assert (note["title"], note["blog_name"]) == ("Café", "été")


def test_repeated_ping_coalesces(tmp_path: Path) -> None:
    with receiving(tmp_path) as (middleware, client):
        for _ in range(3):
            assert answer(trackback(client, "/post", {"url": SOURCE}))[0] == "0"
        [row] = middleware.store.linkbacks()
        assert middleware.store.notifications(row["id"])[0]["count"] == 3
        assert len(middleware.store.due_jobs()) == 1
