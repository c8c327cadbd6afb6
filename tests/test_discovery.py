"""Endpoint discovery: webmention.rocks and mention-client-php cases served from loopback,
the real 2020 captures of webmention.rocks, and property tests of the parsers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.wrappers import Request, Response

from linkback.protocols import discovery
from linkback.protocols.discovery import Endpoints, discover, parse_link_header
from linkback.protocols.sender import Sender
from tests.servers import serve

ROCKS = "https://webmention.rocks"


def rocks_tests(corpus: Path) -> list[dict[str, Any]]:
    data = json.loads((corpus / "webmention-rocks" / "webmention-rocks-tests.json").read_text())
    return data["discovery_tests"]


def rocks_app(
    tests: list[dict[str, Any]], base: list[str], keys: dict[str, str]
) -> Callable[..., Any]:
    """Serve every discovery test at /test/N with its headers and page, rebased to ``base[0]``.

    Test 23's redirect chain uses one-time keys: each URL of the chain answers once.
    """
    by_path = {"/test/%d" % t["num"]: t for t in tests}
    seen: list[str] = []

    def rebase(text: str) -> str:
        return text.replace(ROCKS, base[0])

    @Request.application
    def app(request: Request) -> Response:
        seen.append(request.full_path.rstrip("?"))
        path = request.path
        if path == "/test/23/page":
            return Response("", status=302, headers=[("Location", "page/%s" % keys["KEY"])])
        if path == "/test/23/page/%s" % keys["KEY"]:
            chain = by_path["/test/23"]["redirect_chain"][1]
            headers = [(k, v.replace("{KEY2}", keys["KEY2"])) for k, v in chain["headers"]]
            html = chain["html"].replace("{KEY2}", keys["KEY2"])
            return Response(html, headers=headers, content_type="text/html; charset=utf-8")
        test = by_path.get(path)
        if test is None:
            return Response("not found", status=404)
        headers = [(name, rebase(value)) for name, value in test["response_headers"]]
        return Response(
            rebase(test["html"]), headers=headers, content_type="text/html; charset=utf-8"
        )

    app.seen = seen  # type: ignore[attr-defined]
    return app


def test_webmention_rocks_discovery_from_loopback(corpus: Path) -> None:
    tests = rocks_tests(corpus)
    assert len(tests) == 23
    base: list[str] = []
    keys = {"KEY": "k1e2y3", "KEY2": "s4e5c6"}
    app = rocks_app(tests, base, keys)
    sender = Sender(allow_private_networks=True, host_delay=0)
    with serve(app) as url:
        base.append(url)
        for test in tests:
            target = test["url"].replace(ROCKS, url)
            expected = test["expected_endpoint"].replace(ROCKS, url).replace("{KEY2}", keys["KEY2"])
            if test["num"] == 23:
                target += "/page"
            status, endpoints = sender.discover(target)
            assert status == 200, test["name"]
            assert endpoints.webmention == expected, "test %d: %s" % (test["num"], test["name"])
            for wrong in test["must_not_use"]:
                assert endpoints.webmention != wrong.replace(ROCKS, url)
    # Test 23 allows one request per URL of the redirect chain.
    chain = [p for p in app.seen if p.startswith("/test/23")]  # type: ignore[attr-defined]
    assert chain == ["/test/23/page", "/test/23/page/%s" % keys["KEY"]]


@pytest.mark.parametrize("number", range(1, 23))
def test_webmention_rocks_real_captures(corpus: Path, number: int) -> None:
    """Pages and headers captured from webmention.rocks in 2020 (with real responses in them)."""
    folder = corpus / "webmention-rocks" / "captured-2020-ronkyuu"
    test = rocks_tests(corpus)[number - 1]
    html = (folder / ("webmention_rocks_test_%d.html" % number)).read_text(encoding="utf-8")
    headers = json.loads((folder / ("webmention_rocks_test_%d.json" % number)).read_text())
    found = discover(test["url"], headers, html)
    assert found.webmention == test["expected_endpoint"], test["name"]


def raw_response(path: Path) -> tuple[int, list[tuple[str, str]], bytes]:
    """A mention-client-php fixture: status line, headers, blank line, body."""
    raw = path.read_bytes().replace(b"\r\n", b"\n")
    head, _, body = raw.partition(b"\n\n")
    lines = head.decode("latin-1").split("\n")
    status = int(lines[0].split()[1])
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() not in (
            "content-length",
            "transfer-encoding",
            "connection",
            "date",
            "server",
        ):
            headers.append((name.strip(), value.strip()))
    return status, headers, body


def test_mention_client_php_discovery_from_loopback(corpus: Path) -> None:
    folder = corpus / "mention-client-php"
    expected = json.loads((folder / "expected-discovery.json").read_text())
    site = folder / "data" / "target.example.com"

    @Request.application
    def app(request: Request) -> Response:
        path = (site / request.path.lstrip("/")).resolve()
        if not path.is_file() or site.resolve() not in path.parents:
            return Response("not found", status=404)
        status, headers, body = raw_response(path)
        return Response(body, status=status, headers=headers)

    sender = Sender(allow_private_networks=True, host_delay=0)
    with serve(app) as url:

        def local(value: str) -> str:
            return value.replace("http://target.example.com", url)

        for target, endpoint in expected["webmention"].items():
            _status, found = sender.discover(local(target))
            assert found.webmention == local(endpoint), target
        for target, endpoint in expected["pingback"].items():
            _status, found = sender.discover(local(target))
            assert found.pingback == local(endpoint), target
        _status, found = sender.discover(url + "/only-pingback.html")
        assert found.webmention is None and found.pingback


def test_mention_client_php_inline_headers(corpus: Path) -> None:
    expected = json.loads((corpus / "mention-client-php" / "expected-discovery.json").read_text())
    for case in expected["inline_header_cases"]:
        headers = [tuple(h.split(": ", 1)) for h in case["headers"][1:]]
        found = discover(case["target"], headers, None)
        assert found.webmention == case.get("webmention")
        assert found.pingback == case.get("pingback")


@pytest.mark.parametrize(
    ("headers", "html", "expected"),
    [
        pytest.param(
            {},
            '<a rel="webmention" href="">me</a>',
            "https://a.example/post?x=1",
            id="empty href is the page itself",
        ),
        pytest.param(
            {},
            '<link rel="webmention"><a rel="webmention" href="/wm">x</a>',
            "https://a.example/wm",
            id="link without href skipped",
        ),
        pytest.param(
            {},
            '<!-- <link rel="webmention" href="/bad"> --><a rel="webmention" href="/good">',
            "https://a.example/good",
            id="commented endpoint ignored",
        ),
        pytest.param(
            {},
            "<p>&lt;a rel=&quot;webmention&quot; href=&quot;/bad&quot;&gt;</p>",
            None,
            id="escaped html is text",
        ),
        pytest.param({}, '<a rel="not-webmention" href="/bad">', None, id="rel must match a token"),
        pytest.param(
            {},
            '<a rel="nofollow WebMention" href="/wm?q=1&amp;r=2">',
            "https://a.example/wm?q=1&r=2",
            id="rel list, case, query kept",
        ),
        pytest.param(
            {"Link": '<https://e.example/x>; rel="other webmention"'},
            '<a rel="webmention" href="/no">',
            "https://e.example/x",
            id="header wins over html",
        ),
        pytest.param(
            {"Link": "</a;b,c>; rel=webmention"},
            "",
            "https://a.example/a;b,c",
            id="separators inside brackets",
        ),
        pytest.param(
            {},
            '<a rel="webmention" href="javascript:alert(1)">',
            None,
            id="non-http endpoint refused",
        ),
        pytest.param(
            {},
            '<link rel="http://webmention.org/" href="/legacy">',
            "https://a.example/legacy",
            id="legacy rel",
        ),
    ],
)
def test_webmention_rules(headers: dict[str, str], html: str, expected: str | None) -> None:
    assert discover("https://a.example/post?x=1", headers, html).webmention == expected


def test_pingback_and_trackback_discovery() -> None:
    rdf = (
        '<!--\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"\n'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        ' xmlns:trackback="http://madskills.com/public/xml/rss/module/trackback/">\n'
        '<rdf:Description rdf:about="%s" dc:identifier="%s" dc:title="T &amp; U" trackback:ping="%s" />\n'
        "</rdf:RDF>\n-->"
    )
    html = (
        '<link rel="pingback" href="/xmlrpc.php">'
        + rdf % ("https://a.example/other", "https://a.example/other", "/tb/other")
        + rdf % ("https://a.example/post", "https://a.example/post", "/tb/post")
    )
    found = discover("https://a.example/post", {}, html)
    assert found.pingback == "https://a.example/xmlrpc.php"
    assert found.trackback == "https://a.example/tb/post"
    assert found.preferred() == ("pingback", "https://a.example/xmlrpc.php")
    # A single hand-written block that is not well-formed XML still gives its ping URL.
    broken = '<rdf:RDF><rdf:Description dc:title="A & B" trackback:ping="https://a.example/tb/1" /></rdf:RDF>'
    assert discover("https://a.example/1", {}, broken).trackback == "https://a.example/tb/1"
    assert (
        discover("https://a.example/1", {"X-Pingback": "https://p.example/rpc"}, "").pingback
        == "https://p.example/rpc"
    )
    assert Endpoints().preferred() is None


def test_our_own_tags_are_discovered() -> None:
    from linkback.protocols import protocol_tags

    page = "https://example.com/blog/a--b"
    html = "<html><head>%s</head><body></body></html>" % protocol_tags(
        page, title='Dash -- and <tags> & "quotes"'
    )
    found = discover(page, {}, html)
    assert found.webmention == "https://example.com/.linkback/webmention"
    assert found.pingback == "https://example.com/.linkback/xmlrpc"
    assert found.trackback == "https://example.com/.linkback/trackback/blog/a--b"
    assert "-->" not in html.split("<!--", 1)[1].rsplit("-->", 1)[0]


@given(st.text(max_size=300))
def test_link_header_parser_never_fails(value: str) -> None:
    for target, params in parse_link_header(value):
        assert isinstance(target, str)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())


@given(
    st.lists(
        st.tuples(st.sampled_from(["Link", "LINK", "X-Pingback", "Other"]), st.text(max_size=80)),
        max_size=5,
    ),
    st.text(max_size=500),
)
def test_discover_never_fails(headers: list[tuple[str, str]], html: str) -> None:
    found = discover("https://a.example/p", headers, html)
    for endpoint in (found.webmention, found.pingback, found.trackback):
        assert endpoint is None or re.match(r"https?://", endpoint)


def test_resolve_strips_html_url_noise() -> None:
    assert discovery.resolve("https://a.example/x/", " \n/wm\t ") == "https://a.example/wm"
    assert discovery.resolve("https://a.example/x/", "wm#frag") == "https://a.example/x/wm"
