"""The Webmention receiver, through the middleware as a WSGI application."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.protocol_helpers import POST, SITE, receiving, set_status, webmention

SOURCE = "https://blog.example.org/2024/reply"


def test_accepted_with_status_page(tmp_path: Path) -> None:
    with receiving(tmp_path) as (middleware, client):
        response = webmention(client, SOURCE, POST)
        assert response.status_code == 201
        location = response.headers["Location"]
        assert location.startswith("http://example.com/.linkback/webmention/status/")
        assert location in response.get_data(as_text=True)
        [row] = middleware.store.linkbacks()
        assert (row["source"], row["target"], row["kind"], row["status"]) == (
            SOURCE,
            POST,
            "webmention",
            "pending",
        )
        [job] = middleware.store.due_jobs()
        assert job["linkback_id"] == row["id"]

        status = client.get(location.split(SITE, 1)[1], headers={"Host": SITE})
        assert status.status_code == 200 and status.mimetype == "application/json"
        assert json.loads(status.get_data())["status"] == "pending"
        for stored, public in [
            ("verified", "verified"),
            ("held", "verified"),
            ("unverified", "rejected"),
            ("gone", "rejected"),
            ("pending", "pending"),
        ]:
            set_status(middleware, row["id"], stored)
            body = json.loads(
                client.get(location.split(SITE, 1)[1], headers={"Host": SITE}).get_data()
            )
            assert body["status"] == public, stored
            assert body["source"] == SOURCE and body["target"] == POST
        assert (
            client.get("/.linkback/webmention/status/nope", headers={"Host": SITE}).status_code
            == 404
        )


@pytest.mark.parametrize(
    ("source", "target", "reason"),
    [
        pytest.param(None, POST, "source is missing", id="no source"),
        pytest.param(SOURCE, None, "target is missing", id="no target"),
        pytest.param("ftp://blog.example.org/x", POST, "source must be", id="ftp source"),
        pytest.param("javascript:alert(1)", POST, "source must be", id="javascript source"),
        pytest.param(SOURCE, "mailto:me@example.com", "target must be", id="mailto target"),
        pytest.param(POST, POST, "different pages", id="source is target"),
        pytest.param(
            POST + "?utm_source=x", POST, "different pages", id="source is target after normalising"
        ),
        pytest.param(
            SOURCE, "https://elsewhere.example/post", "not a page of this site", id="foreign target"
        ),
        pytest.param(SOURCE, "https://example.com/missing", "does not exist", id="target is 404"),
        pytest.param("http://127.0.0.1/x", POST, "public address", id="loopback source"),
        pytest.param("http://[::1]/x", POST, "public address", id="ipv6 loopback source"),
        pytest.param("http://10.1.2.3/x", POST, "public address", id="private source"),
        pytest.param("http://2130706433/x", POST, "public address", id="decimal loopback source"),
        pytest.param(
            "http://[::ffff:169.254.169.254]/", POST, "public address", id="mapped metadata"
        ),
        pytest.param("http://app.localhost/x", POST, "public address", id="localhost name"),
        pytest.param(
            "https://" + "a" * 2100 + ".example/", POST, "source must be", id="source too long"
        ),
        pytest.param(
            "jwoijgoisdjlskjegisvjowuehjtkx", POST, "source must be", id="webmention.rocks 2.1"
        ),
        pytest.param(
            SOURCE, "owiejduvyeiwljjjcjmvbpsouehgd", "target must be", id="webmention.rocks 2.2"
        ),
        pytest.param(
            "sjuhvhwieuhtiwudcjvhuh",
            "owiejduvyeiwljjjcjmvbpsouehgd",
            "must be",
            id="webmention.rocks 2.3",
        ),
    ],
)
def test_invalid_requests_get_400(
    tmp_path: Path, source: str | None, target: str | None, reason: str
) -> None:
    with receiving(tmp_path) as (middleware, client):
        response = webmention(client, source, target)
        assert response.status_code == 400
        assert response.mimetype == "text/plain"
        assert reason in response.get_data(as_text=True)
        assert "Location" not in response.headers
        assert middleware.store.linkbacks() == []


def test_webmention_rocks_receiver_test_2(tmp_path: Path, corpus: Path) -> None:
    data = json.loads((corpus / "webmention-rocks" / "webmention-rocks-tests.json").read_text())
    with receiving(tmp_path) as (middleware, client):
        for step in data["receiver_test_2_invalid_requests"]:
            source = SOURCE if step["source"] == "<valid source>" else step["source"]
            target = POST if step["target"] == "<valid target>" else step["target"]
            assert webmention(client, source, target).status_code == step["expected_status"]
        assert middleware.store.linkbacks() == []


def test_form_rules(tmp_path: Path) -> None:
    with receiving(tmp_path) as (middleware, client):
        twice = client.post(
            "/.linkback/webmention",
            data="source=%s&source=%s&target=%s" % (SOURCE, SOURCE, POST),
            content_type="application/x-www-form-urlencoded",
            headers={"Host": SITE},
        )
        assert twice.status_code == 400 and "only once" in twice.get_data(as_text=True)
        as_json = client.post(
            "/.linkback/webmention", json={"source": SOURCE, "target": POST}, headers={"Host": SITE}
        )
        assert as_json.status_code == 400 and "x-www-form-urlencoded" in as_json.get_data(
            as_text=True
        )
        in_query = client.post(
            "/.linkback/webmention?source=%s&target=%s" % (SOURCE, POST), headers={"Host": SITE}
        )
        assert in_query.status_code == 400
        got = client.get("/.linkback/webmention", headers={"Host": SITE})
        assert got.status_code == 405 and got.headers["Allow"] == "POST"
        extra = client.post(
            "/.linkback/webmention",
            data={"source": SOURCE, "target": POST, "vouch": "https://v.example/"},
            headers={"Host": SITE},
        )
        assert extra.status_code == 201  # unknown parameters (Vouch) are ignored
        assert len(middleware.store.linkbacks()) == 1


def test_repeated_mention_reverifies_and_coalesces(tmp_path: Path) -> None:
    with receiving(tmp_path) as (middleware, client):
        first = webmention(client, SOURCE, POST)
        second = webmention(client, SOURCE, POST)
        assert first.headers["Location"] == second.headers["Location"]  # one status page per pair
        [row] = middleware.store.linkbacks()
        assert len(middleware.store.due_jobs()) == 1
        # Verified, then checked just now: the repeat is due once the re-check interval passes.
        set_status(middleware, row["id"], "verified", checked=True)
        with middleware.store.write() as conn:
            conn.execute("DELETE FROM jobs")
        assert webmention(client, SOURCE, POST).status_code == 201
        assert middleware.store.due_jobs() == []
        [job] = middleware.store.due_jobs(now=10**10)
        assert job["linkback_id"] == row["id"]
        assert middleware.store.linkback(row["id"])["status"] == "verified"
        [note] = middleware.store.notifications(row["id"])
        assert note["count"] == 3


def test_gone_mention_returns_to_pending_and_referrer_becomes_webmention(tmp_path: Path) -> None:
    with receiving(tmp_path) as (middleware, client):
        webmention(client, SOURCE, POST)
        [row] = middleware.store.linkbacks()
        set_status(middleware, row["id"], "gone")
        assert webmention(client, SOURCE, POST).status_code == 201
        assert middleware.store.linkback(row["id"])["status"] == "pending"

        other = "https://news.example.net/item?id=1"
        middleware.store.record_hits({(other, POST, SITE, "2024-01-01"): (3, {1: 3})})
        assert webmention(client, other, POST).status_code == 201
        kinds = {r["source"]: r["kind"] for r in middleware.store.linkbacks()}
        assert kinds[other] == "webmention"


def test_blacklist_and_blocked_sources(tmp_path: Path) -> None:
    with receiving(tmp_path, blacklist=["spam.example"]) as (middleware, client):
        response = webmention(client, "https://www.spam.example/x", POST)
        assert response.status_code == 400 and "not accepted" in response.get_data(as_text=True)
        assert middleware.store.linkbacks() == []
        webmention(client, SOURCE, POST)
        [row] = middleware.store.linkbacks()
        set_status(middleware, row["id"], "blocked")
        response = webmention(client, SOURCE, POST)
        assert response.status_code == 400
        assert middleware.store.linkback(row["id"])["status"] == "blocked"


def test_database_blacklist(tmp_path: Path) -> None:
    with receiving(tmp_path) as (middleware, client):
        # Patterns added in the admin are read when the receivers start, then every 30 s.
        middleware.store.add_blacklist("*casino*")
        response = webmention(client, "https://best-casino.example/x", POST)
        assert response.status_code == 400
        assert middleware.store.linkbacks() == []


def test_targets_without_configured_sites(tmp_path: Path) -> None:
    with receiving(tmp_path, sites=[]) as (middleware, client):
        assert (
            webmention(client, SOURCE, "https://example.com/post", host="example.com").status_code
            == 201
        )
        assert (
            webmention(client, SOURCE, "https://other.example/post", host="example.com").status_code
            == 400
        )


def test_hostile_host_header_never_reaches_location(tmp_path: Path) -> None:
    with receiving(tmp_path, sites=["example.com"]) as (middleware, client):
        response = webmention(client, SOURCE, POST, host="evil.example")
        assert response.status_code == 201
        assert response.headers["Location"].startswith("/.linkback/webmention/status/")


def test_receivers_off(tmp_path: Path) -> None:
    with receiving(tmp_path, protocols=False) as (middleware, client):
        assert webmention(client, SOURCE, POST).status_code == 404


def test_target_with_tracking_parameters_is_the_page(tmp_path: Path) -> None:
    with receiving(tmp_path) as (middleware, client):
        assert webmention(client, SOURCE, POST + "?utm_source=feed#comments").status_code == 201
        [row] = middleware.store.linkbacks()
        assert row["target"] == POST
