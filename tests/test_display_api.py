"""The display endpoints: JSON API and CORS, script and stylesheet, and the beacon."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import BROWSER_UA
from werkzeug.test import Client

from linkback import LinkbackMiddleware
from linkback.display_api import BEACON_RATE, MAX_BEACON_BYTES, RateLimit
from linkback.store import Store

PAGE = "https://example.com/posts/hello"
API = "/.linkback/api/linkbacks"


def html_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [b"<p>page</p>"]


@pytest.fixture
def middleware(db_path: str) -> Iterator[LinkbackMiddleware]:
    app = LinkbackMiddleware(html_app, db_path, sites=["example.com", "example.org"], crawl=False)
    yield app
    app.close()


@pytest.fixture
def client(middleware: LinkbackMiddleware) -> Client:
    return Client(middleware)


def add(db_path: str, source: str, target: str = PAGE, **columns: Any) -> None:
    store = Store(db_path)
    columns.setdefault("status", "verified")
    store.add_linkback(source, target, **columns)
    store.close()


# --- JSON API ---------------------------------------------------------------------------------


def test_api_lists_verified_linkbacks(db_path: str, client: Client) -> None:
    add(db_path, "https://a.example/post", title="Shown", blurb="see the link", blurb_start=4,
        blurb_end=12, author_name="A")
    add(db_path, "https://b.example/", title="Pending", status="pending")
    add(db_path, "https://news.ycombinator.com/item?id=1", kind="discussion", points=5)
    response = client.get(API, query_string={"url": PAGE + "?utm_source=x"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age=60" in response.headers["Cache-Control"]
    data = response.get_json()
    assert data["url"] == PAGE
    assert data["count"] == 1
    [item] = data["linkbacks"]
    assert item["title"] == "Shown" and item["url"] == "https://a.example/post"
    assert item["highlight"] == [4, 12] and item["author_name"] == "A"
    assert data["discussions"][0]["points"] == 5
    assert "Shown" in data["html"] and "Pending" not in data["html"]
    assert "<link" not in data["html"]  # the script links the stylesheet itself


@pytest.mark.parametrize(
    "query,status",
    [
        pytest.param({}, 400, id="no url"),
        pytest.param({"url": "javascript:alert(1)"}, 400, id="not http"),
        pytest.param({"url": "https://elsewhere.example/"}, 404, id="not our site"),
    ],
)
def test_api_refuses(client: Client, query: dict[str, str], status: int) -> None:
    response = client.get(API, query_string=query)
    assert response.status_code == status
    assert "error" in response.get_json()


def test_api_reflects_changes(db_path: str, client: Client) -> None:
    assert client.get(API, query_string={"url": PAGE}).get_json()["count"] == 0
    add(db_path, "https://a.example/")
    assert client.get(API, query_string={"url": PAGE}).get_json()["count"] == 1


@pytest.mark.parametrize(
    "origin,allowed",
    [
        pytest.param("https://example.com", "https://example.com", id="configured site"),
        pytest.param("https://blog.example.com", "https://blog.example.com", id="subdomain"),
        pytest.param("http://example.org:8080", "http://example.org:8080", id="other site and port"),
        pytest.param("https://EXAMPLE.com", "https://example.com", id="echoed normalised"),
        pytest.param("https://evil.example", None, id="other origin"),
        pytest.param("https://example.com.evil.example", None, id="suffix trick"),
        pytest.param("https://evilexample.com", None, id="prefix trick"),
        pytest.param("null", None, id="null origin"),
        pytest.param("https://example.com/path", None, id="not an origin"),
        pytest.param("javascript:alert(1)", None, id="not http"),
    ],
)
def test_api_cors(client: Client, origin: str, allowed: str | None) -> None:
    response = client.get(API, query_string={"url": PAGE}, headers={"Origin": origin})
    assert response.headers.get("Access-Control-Allow-Origin") == allowed
    assert "Origin" in response.headers["Vary"]
    assert response.headers.get("Access-Control-Allow-Credentials") is None


def test_api_preflight(client: Client) -> None:
    response = client.options(API, headers={"Origin": "https://example.com",
                                            "Access-Control-Request-Method": "GET"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://example.com"
    assert response.headers["Access-Control-Allow-Methods"] == "GET"


def test_api_without_sites_is_same_origin_only(db_path: str) -> None:
    add(db_path, "https://a.example/")
    app = LinkbackMiddleware(html_app, db_path, crawl=False)
    try:
        response = Client(app).get(API, query_string={"url": PAGE},
                                   headers={"Origin": "https://example.com"})
        assert response.get_json()["count"] == 1
        assert "Access-Control-Allow-Origin" not in response.headers
    finally:
        app.close()


def test_api_uses_stored_site_options(db_path: str, client: Client) -> None:
    for i in range(4):
        add(db_path, "https://a%d.example/" % i)
    store = Store(db_path)
    store.set_site_display("example.com", {"limit": 2, "heading": "Mentions"})
    store.close()
    data = client.get(API, query_string={"url": PAGE}).get_json()
    assert data["count"] == 2 and "Mentions" in data["html"]


# --- assets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path,content_type,marker",
    [
        ("/.linkback/linkbacks.js", "text/javascript; charset=utf-8", "sendBeacon"),
        ("/.linkback/linkbacks.css", "text/css; charset=utf-8", ".linkbacks__title"),
    ],
)
def test_assets(client: Client, path: str, content_type: str, marker: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert marker in response.get_data(as_text=True)
    etag = response.headers["ETag"]
    assert "max-age=3600" in response.headers["Cache-Control"]
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_unknown_paths_and_methods(client: Client) -> None:
    assert client.get("/.linkback/api/other").status_code == 404
    assert client.post(API).status_code == 405
    assert client.get("/.linkback/beacon").status_code == 405


# --- beacon -----------------------------------------------------------------------------------

VISITS = [
    # (referrer, address, user agent): two visitors, one of them five times, a bot, an
    # internal navigation and a repeat-happy client.
    ("https://blog.example.net/post", "198.51.100.1", BROWSER_UA),
    ("https://blog.example.net/post", "198.51.100.2", BROWSER_UA),
    *[("https://blog.example.net/post", "198.51.100.3", BROWSER_UA)] * 5,
    ("https://blog.example.net/post", "198.51.100.4", "Googlebot/2.1 (+http://www.google.com/bot.html)"),
    ("https://example.com/other", "198.51.100.5", BROWSER_UA),
    ("https://news.example.org/item?id=1&utm_source=x", "2001:db8::1", BROWSER_UA),
]


def beacon(client: Client, body: Any, origin: str | None = "https://example.com",
           address: str = "198.51.100.9", agent: str = BROWSER_UA) -> Any:
    headers = {"User-Agent": agent, "Content-Type": "text/plain"}
    if origin is not None:
        headers["Origin"] = origin
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/.linkback/beacon", data=data, headers=headers,
                       environ_overrides={"REMOTE_ADDR": address})


def counted(db_path: str) -> list[tuple[Any, ...]]:
    store = Store(db_path)
    rows = sorted((r["source"], r["target"], r["hits"], r["value"], round(r["visitors"], 3))
                  for r in store.linkbacks())
    store.close()
    return rows


def test_beacon_counts_like_the_middleware(tmp_path: Any) -> None:
    direct_db, beacon_db = str(tmp_path / "direct.db"), str(tmp_path / "beacon.db")
    direct = LinkbackMiddleware(html_app, direct_db, sites=["example.com"], crawl=False)
    beaconed = LinkbackMiddleware(html_app, beacon_db, sites=["example.com"], crawl=False)
    try:
        server = Client(direct)
        for referrer, address, agent in VISITS:
            response = server.get("/posts/hello?utm_campaign=z", base_url="https://example.com",
                                  headers={"Referer": referrer, "User-Agent": agent},
                                  environ_overrides={"REMOTE_ADDR": address})
            assert response.status_code == 200
        client = Client(beaconed)
        for referrer, address, agent in VISITS:
            response = beacon(client, {"url": "https://example.com/posts/hello?utm_campaign=z#top",
                                       "referrer": referrer}, address=address, agent=agent)
            assert response.status_code == 204
        direct.flush()
        beaconed.flush()
        rows = counted(direct_db)
        assert [r[0] for r in rows] == ["https://blog.example.net/post", "https://news.example.org/item?id=1"]
        assert rows[0][1] == PAGE and rows[0][2] == 7
        assert rows[0][3] < 7  # fraud compensation capped the repeating client
        assert counted(beacon_db) == rows
        # The middleware drops same-host navigation before queuing; the writer skips it.
        assert beaconed.stats()["skipped"]["bot"] == direct.stats()["skipped"]["bot"] == 1
    finally:
        direct.close()
        beaconed.close()


def test_beacon_without_referrer_counts_nothing(middleware: LinkbackMiddleware, client: Client, db_path: str) -> None:
    assert beacon(client, {"url": PAGE, "referrer": ""}).status_code == 204
    assert beacon(client, {"url": PAGE}).status_code == 204
    middleware.flush()
    assert counted(db_path) == []


def test_beacon_same_origin_without_origin_header(middleware: LinkbackMiddleware, client: Client, db_path: str) -> None:
    response = beacon(client, {"url": PAGE, "referrer": "https://a.example/"}, origin=None)
    assert response.status_code == 204
    middleware.flush()
    assert len(counted(db_path)) == 1


@pytest.mark.parametrize(
    "body,origin,status",
    [
        pytest.param({"url": "https://elsewhere.example/", "referrer": "https://a.example/"},
                     "https://example.com", 403, id="page not on a configured site"),
        pytest.param({"url": PAGE, "referrer": "https://a.example/"}, "https://evil.example", 403,
                     id="another site's origin"),
        pytest.param({"url": PAGE, "referrer": "https://a.example/"}, "https://example.org", 403,
                     id="origin of another configured site"),
        pytest.param({"url": "https://user:pw@example.com/", "referrer": "https://a.example/"},
                     "https://example.com", 403, id="credentials in page url"),
        pytest.param({"url": "javascript:alert(1)//example.com", "referrer": "https://a.example/"},
                     "https://example.com", 403, id="not http"),
        pytest.param("not json", "https://example.com", 400, id="not json"),
        pytest.param(["https://example.com/"], "https://example.com", 400, id="not an object"),
        pytest.param({"url": 5, "referrer": "x"}, "https://example.com", 400, id="not strings"),
        pytest.param(b"\xff\xfe", "https://example.com", 400, id="not utf-8"),
        pytest.param({"url": PAGE, "referrer": "https://a.example/" + "a" * 9000},
                     "https://example.com", 413, id="too large"),
    ],
)
def test_beacon_refuses(middleware: LinkbackMiddleware, client: Client, db_path: str,
                        body: Any, origin: str, status: int) -> None:
    response = beacon(client, body, origin=origin)
    assert response.status_code == status
    middleware.flush()
    assert counted(db_path) == []


def test_beacon_body_cap() -> None:
    assert MAX_BEACON_BYTES <= 16384


def test_beacon_needs_configured_sites(db_path: str) -> None:
    app = LinkbackMiddleware(html_app, db_path, crawl=False)
    try:
        response = beacon(Client(app), {"url": PAGE, "referrer": "https://a.example/"})
        assert response.status_code == 403
        app.flush()
        assert counted(db_path) == []
    finally:
        app.close()


def test_beacon_rate_limit(middleware: LinkbackMiddleware, client: Client) -> None:
    body = {"url": PAGE, "referrer": "https://a.example/"}
    statuses = [beacon(client, body, address="203.0.113.7").status_code for _ in range(BEACON_RATE + 5)]
    assert statuses[:BEACON_RATE] == [204] * BEACON_RATE
    assert set(statuses[BEACON_RATE:]) == {429}
    # Another client is unaffected; one IPv6 /64 is one client.
    assert beacon(client, body, address="203.0.113.8").status_code == 204
    for i in range(BEACON_RATE):
        beacon(client, body, address="2001:db8:1:2::%x" % (i + 1))
    assert beacon(client, body, address="2001:db8:1:2::ffff").status_code == 429


def test_rate_limit_refills_and_stays_small() -> None:
    limit = RateLimit(2, clients=3)
    assert limit.allow("a", now=0) and limit.allow("a", now=0)
    assert not limit.allow("a", now=1)
    assert limit.allow("a", now=31)  # one token back after half a minute at 2 a minute
    for name in "bcdefg":
        limit.allow(name, now=40)
    assert len(limit._buckets) <= 3


def test_beacon_preflight(client: Client) -> None:
    response = client.options("/.linkback/beacon", headers={"Origin": "https://example.com"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://example.com"


def test_api_unreadable_database_is_503(tmp_path: Any) -> None:
    path = tmp_path / "broken.db"
    path.write_bytes(b"not a database at all" * 200)
    app = LinkbackMiddleware(html_app, str(path), sites=["example.com"], crawl=False)
    try:
        response = Client(app).get(API, query_string={"url": PAGE})
        assert response.status_code == 503
        assert response.get_json() == {"error": "linkbacks are unavailable"}
        assert app.render(PAGE) == ""  # and the template helper shows nothing
    finally:
        app.close()
