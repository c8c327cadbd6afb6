"""Whatever a client sends, the application answers and nothing bad is stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from capture_support import BROWSER_UA, make_middleware
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkback.urls import MAX_URL_LENGTH, normalize_url

#: WSGI gives header values as latin-1 decoded strings (PEP 3333): any byte 0-255.
wsgi_text = st.text(alphabet=st.characters(max_codepoint=255), max_size=200)

HOSTILE_REFERERS = [
    pytest.param("not a url", id="not a URL"),
    pytest.param("https://blog.example.org/" + "a" * (MAX_URL_LENGTH + 10), id="over 8 KB"),
    pytest.param("https://blog.example.org/" + "é" * 9000, id="over 8 KB of non-ASCII"),
    pytest.param("https://blog.example.org/a\r\nSet-Cookie: x=1", id="CRLF"),
    pytest.param("https://blog.example.org/\x00", id="NUL"),
    pytest.param("https://blog.exa\x7fmple.org/", id="DEL in host"),
    pytest.param("https://\xff\xfe\x80.example/", id="non-UTF-8 bytes in host"),
    pytest.param("https://blog.example.org/\xff\xfe", id="non-UTF-8 bytes in path"),
    pytest.param("https://xn--.example/", id="broken punycode"),
    pytest.param("https://b\xc3\xbccher.example/", id="IDN as UTF-8 bytes"),
    pytest.param("http://[::1]/", id="ipv6 loopback"),
    pytest.param("http://[::ffff:127.0.0.1]/", id="ipv4-mapped loopback"),
    pytest.param("http://[2001:db8::1/", id="unclosed ipv6"),
    pytest.param("http://[2606:4700::1111]:99999/", id="ipv6 bad port"),
    pytest.param("javascript:alert(document.cookie)", id="javascript"),
    pytest.param("JaVaScRiPt:alert(1)", id="javascript mixed case"),
    pytest.param("data:text/html;base64,PHNjcmlwdD4=", id="data"),
    pytest.param("https://blog.example.org/<script>alert(1)</script>", id="markup in path"),
    pytest.param('https://blog.example.org/"onmouseover="x', id="quote in path"),
    pytest.param("https://user:pass@blog.example.org/", id="credentials"),
    pytest.param("https:\\\\blog.example.org\\", id="backslashes"),
    pytest.param("https://" + "a." * 200 + "com/", id="very long host"),
    pytest.param("http://0x7f.1/", id="hex ip"),
]


def _environ(referer: str, host: str = "example.com", agent: str = BROWSER_UA,
             path: str = "/post", query: str = "", address: str = "203.0.113.5") -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": query,
        "SERVER_NAME": "example.com", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
        "REMOTE_ADDR": address, "HTTP_HOST": host, "HTTP_USER_AGENT": agent, "HTTP_REFERER": referer,
    }


def _call(middleware: Any, environ: dict[str, Any]) -> bytes:
    statuses: list[str] = []

    def start_response(status: str, headers: list, exc_info: Any = None) -> Any:
        statuses.append(status)
        for _name, value in headers:  # nothing from the request may reach a header unchecked
            assert "\r" not in value and "\n" not in value
        return lambda data: None

    body = b"".join(middleware(environ, start_response))
    assert statuses == ["200 OK"]
    return body


def _stored_urls_are_clean(db_path: str) -> list[str]:
    conn = sqlite3.connect(db_path)
    try:
        urls = [u for row in conn.execute("SELECT source, permalink, target FROM linkbacks") for u in row]
        urls += [r[0] for r in conn.execute("SELECT url FROM referrers")]
        urls += [r[0] for r in conn.execute("SELECT url FROM jobs")]
    finally:
        conn.close()
    for url in urls:
        assert normalize_url(url) == url, url
        assert url.isascii() and len(url) <= MAX_URL_LENGTH
        assert not any(ch in url for ch in "<>\"' \r\n\x00\\"), url
    return urls


@pytest.mark.parametrize("referer", HOSTILE_REFERERS)
def test_hostile_referer(db_path: str, referer: str) -> None:
    middleware = make_middleware(db_path)
    assert _call(middleware, _environ(referer)) == b"<p>page</p>"
    middleware.flush()
    stored = _stored_urls_are_clean(db_path)
    assert all("example.com/post" in u or "://" in u for u in stored)
    assert not any(u.startswith(("javascript", "data")) for u in stored)
    middleware.close()


def test_idn_and_public_ipv6_are_stored_encoded(db_path: str) -> None:
    middleware = make_middleware(db_path)
    _call(middleware, _environ("https://b\xc3\xbccher.example/seite"))
    _call(middleware, _environ("http://[2606:4700:0::1111]/a"))
    middleware.flush()
    sources = {r["source"] for r in middleware.store.linkbacks()}
    assert sources == {"https://xn--bcher-kva.example/seite", "http://[2606:4700::1111]/a"}
    middleware.close()


@pytest.mark.parametrize(
    "host",
    ["evil.example", "example.com\r\nX-Injected: 1", "example.com:abc", "[::1", "exa\x00mple.com",
     "\xff\xfe", "example.com@evil.example", "x" * 10_000],
)
def test_hostile_host_header(db_path: str, host: str) -> None:
    middleware = make_middleware(db_path)
    assert _call(middleware, _environ("https://blog.example.org/", host=host)) == b"<p>page</p>"
    middleware.flush()
    assert _stored_urls_are_clean(db_path) == []
    middleware.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    referer=st.one_of(
        wsgi_text,
        wsgi_text.map(lambda s: "https://" + s),
        wsgi_text.map(lambda s: "http://blog.example.org/" + s),
        st.text(max_size=60).map(lambda s: "https://" + s + ".example/"),
        st.just("https://blog.example.org/" + "x" * 9000),
    ),
    host=st.one_of(st.just("example.com"), st.just("www.example.com:8080"), wsgi_text),
    agent=st.one_of(st.just(BROWSER_UA), wsgi_text, st.just("y" * 10_000)),
    path=st.one_of(st.just("/post"), wsgi_text.map(lambda s: "/" + s)),
    query=wsgi_text,
    address=st.one_of(st.just("203.0.113.5"), st.just("2001:db8::1"), wsgi_text),
)
def test_arbitrary_headers_never_reach_the_app_as_errors(
    tmp_path: Path, referer: str, host: str, agent: str, path: str, query: str, address: str,
) -> None:
    db_path = str(tmp_path / "fuzz.db")
    middleware = _shared(db_path)
    assert _call(middleware, _environ(referer, host, agent, path, query, address)) == b"<p>page</p>"
    middleware.flush()
    assert middleware.stats()["dropped"] == 0
    _stored_urls_are_clean(db_path)


_MIDDLEWARES: dict[str, Any] = {}


@pytest.fixture(autouse=True, scope="module")
def _close_shared() -> Any:
    yield
    for middleware in _MIDDLEWARES.values():
        middleware.close()
    _MIDDLEWARES.clear()


def _shared(db_path: str) -> Any:
    """One middleware per database file, reused across hypothesis examples."""
    middleware = _MIDDLEWARES.get(db_path)
    if middleware is None:
        for old in _MIDDLEWARES.values():
            old.close()
        _MIDDLEWARES.clear()
        middleware = _MIDDLEWARES[db_path] = make_middleware(db_path, sites=[])
        assert middleware.store.schema_version  # create the file before any hit counts
    return middleware
