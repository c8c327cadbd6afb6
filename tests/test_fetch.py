"""fetch() against real loopback servers: methods, redirects, headers, decoding."""

from __future__ import annotations

import gzip

import pytest
from servers import pages_app, serve

from linkback.errors import FetchError
from linkback.fetch import USER_AGENT, fetch, make_session


def test_get_returns_a_page() -> None:
    app = pages_app({"/": "<html><body>héllo</body></html>"})
    with serve(app) as base:
        page = fetch(base + "/", allow_private_networks=True)
    assert page.status == 200 and page.final_url == base + "/" and page.redirects == []
    assert page.headers["content-type"] == page.headers["Content-Type"]
    assert page.is_html and "héllo" in page.text and not page.truncated
    assert page.peer == "127.0.0.1"
    method, path, headers = app.requests[0]
    assert (method, path) == ("GET", "/")
    assert headers["User-Agent"] == USER_AGENT and "linkback" in USER_AGENT


def test_post_form_data_goes_through_the_same_guard() -> None:
    seen = []

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        seen.append((environ["REQUEST_METHOD"], environ.get("CONTENT_TYPE"), environ["wsgi.input"].read(length)))
        start_response("202 Accepted", [("Content-Type", "text/plain"), ("Location", "/status/1")])
        return [b"accepted"]

    with serve(app) as base:
        page = fetch(base + "/webmention", method="POST", data={"source": "https://a.example/", "target": "https://b.example/"},
                     allow_private_networks=True)
    assert page.status == 202 and page.headers["Location"] == "/status/1"
    method, content_type, body = seen[0]
    assert method == "POST" and content_type == "application/x-www-form-urlencoded"
    assert body == b"source=https%3A%2F%2Fa.example%2F&target=https%3A%2F%2Fb.example%2F"


def test_redirects_are_recorded_and_relative_locations_resolved() -> None:
    app = pages_app({"/a": (301, {"Location": "/b"}, ""), "/b": (302, {"Location": "c"}, ""),
                     "/c": "<p>end</p>"})
    with serve(app) as base:
        page = fetch(base + "/a", allow_private_networks=True)
    assert page.url == base + "/a" and page.final_url == base + "/c"
    assert page.redirects == [base + "/b", base + "/c"]


def test_post_becomes_get_after_303() -> None:
    app = pages_app({"/form": (303, {"Location": "/done"}, ""), "/done": "<p>ok</p>"})
    with serve(app) as base:
        page = fetch(base + "/form", method="POST", data={"a": "1"}, allow_private_networks=True)
    assert page.status == 200
    assert [(m, p) for m, p, _h in app.requests] == [("POST", "/form"), ("GET", "/done")]


def test_gzip_is_decoded() -> None:
    body = gzip.compress("<p>zipped é</p>".encode())
    app = pages_app({"/": (200, {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"}, body)})
    with serve(app) as base:
        page = fetch(base + "/", allow_private_networks=True)
    assert page.text == "<p>zipped é</p>"


def test_charset_from_meta_when_the_header_has_none() -> None:
    body = '<meta charset="iso-8859-1"><p>café</p>'.encode("latin-1")
    app = pages_app({"/": (200, {"Content-Type": "text/html"}, body)})
    with serve(app) as base:
        assert "café" in fetch(base + "/", allow_private_networks=True).text


def test_a_shared_session_keeps_connections_and_headers() -> None:
    session = make_session()
    assert session.trust_env is False and "linkback" in session.headers["User-Agent"]
    app = pages_app({"/": "<p>1</p>"})
    with serve(app) as base:
        for _ in range(3):
            assert fetch(base + "/", session=session, allow_private_networks=True).status == 200
    assert len(app.requests) == 3


def test_a_closed_port_is_a_fetch_error() -> None:
    with serve(pages_app({})) as base:
        pass
    with pytest.raises(FetchError) as info:
        fetch(base + "/", allow_private_networks=True)
    assert type(info.value) is FetchError


def test_extra_headers_are_sent() -> None:
    app = pages_app({"/": "<p>x</p>"})
    with serve(app) as base:
        fetch(base + "/", headers={"Accept": "application/json"}, allow_private_networks=True)
    assert app.requests[0][2]["Accept"] == "application/json"
