"""Hostile input to the receivers: each answered with the protocol's error, nothing stored
that should not be, and the work bounded."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder

from linkback.protocols.limits import Limits, RateLimiter
from linkback.protocols.xmlrpc import Fault, dump_call, parse_call, parse_response
from tests.protocol_helpers import POST, SITE, ping, receiving, trackback, webmention, xmlrpc
from tests.servers import pages_app, serve

SOURCE = "https://blog.example.org/post"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<methodCall><methodName>pingback.ping</methodName><params>
<param><value><string>&lol9;</string></value></param>
<param><value><string>https://example.com/post</string></value></param></params></methodCall>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<methodCall><methodName>pingback.ping</methodName><params>
<param><value><string>&xxe;</string></value></param>
<param><value><string>https://example.com/post</string></value></param></params></methodCall>"""

XINCLUDE = b"""<?xml version="1.0"?>
<methodCall xmlns:xi="http://www.w3.org/2001/XInclude"><methodName>pingback.ping</methodName><params>
<param><value><string><xi:include href="file:///etc/passwd" parse="text"/></string></value></param>
<param><value><string>https://example.com/post</string></value></param></params></methodCall>"""


def call_fault(response: Any) -> int:
    assert response.status_code == 200 and response.mimetype == "text/xml"
    with pytest.raises(Fault) as raised:
        parse_response(response.get_data())
    assert b"root:" not in response.get_data()
    return raised.value.code


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(BILLION_LAUGHS, -32700, id="billion laughs"),
        pytest.param(EXTERNAL_ENTITY, -32700, id="external entity"),
        pytest.param(
            BILLION_LAUGHS.replace(b'<?xml version="1.0"?>', b"").decode().encode("utf-16"),
            -32700,
            id="entity bomb in utf-16",
        ),
        pytest.param(XINCLUDE, -32600, id="xinclude is markup, not processed"),
        pytest.param(
            b"<methodCall><methodName>pingback.ping</methodName><params><param>"
            + b"<value><array><data>" * 60
            + b"</data></array></value>" * 60
            + b"</param></params></methodCall>",
            -32700,
            id="deep nesting",
        ),
        pytest.param(b"<a>" * 3000 + b"</a>" * 3000, -32700, id="deeper than libxml2 allows"),
        pytest.param(
            b"<methodCall><methodName>x</methodName><params>"
            + b"<param><value/></param>" * 1100
            + b"</params></methodCall>",
            -32700,
            id="too many elements",
        ),
        pytest.param(
            b"<?xml version='1.0' encoding='x-no-such'?><methodCall/>", None, id="unknown encoding"
        ),
        pytest.param(
            b"<methodCall><methodName>\xff\xfe</methodName></methodCall>",
            -32700,
            id="invalid utf-8",
        ),
        pytest.param(
            b"<methodCall><methodName>pingback.ping</methodName><params><param><value><string>"
            b"<b>markup</b></string></value></param></params></methodCall>",
            -32600,
            id="markup in string",
        ),
        pytest.param(dump_call("pingback.ping", [None, True]), -32602, id="nil and boolean"),
        pytest.param(dump_call("pingback.ping", [1.5, b"x"]), -32602, id="double and base64"),
    ],
)
def test_hostile_xml(tmp_path: Path, body: bytes, code: int | None) -> None:
    with receiving(tmp_path) as (middleware, client):
        got = call_fault(xmlrpc(client, body))
        assert got == code or (code is None and got in (-32700, -32701))
        assert middleware.store.linkbacks() == []


def test_no_network_for_external_dtds(tmp_path: Path) -> None:
    """A DTD or entity naming a URL is never fetched: the loopback server sees nothing."""
    evil = pages_app(
        {"/evil.dtd": (200, [("Content-Type", "application/xml-dtd")], '<!ENTITY x "pwned">')}
    )
    with serve(evil) as url, receiving(tmp_path) as (middleware, client):
        for body in (
            b'<?xml version="1.0"?><!DOCTYPE m SYSTEM "%s/evil.dtd"><methodCall>&x;</methodCall>'
            % url.encode(),
            b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY %% p SYSTEM "%s/evil.dtd"> %%p;]><methodCall/>'
            % url.encode(),
        ):
            assert call_fault(xmlrpc(client, body)) == -32700
            with pytest.raises(Fault):
                parse_call(body)
        assert evil.requests == []  # type: ignore[attr-defined]
        assert middleware.store.linkbacks() == []


class CountingInput(io.BytesIO):
    """A request body that records how much of it was read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.consumed = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.consumed += len(data)
        return data


@pytest.mark.parametrize(
    "path", ["/.linkback/webmention", "/.linkback/xmlrpc", "/.linkback/trackback/post"]
)
def test_oversized_bodies_are_not_read(tmp_path: Path, path: str) -> None:
    with receiving(tmp_path) as (middleware, _client):
        body = CountingInput(b"source=" + b"a" * 5_000_000)
        environ = EnvironBuilder(
            path=path,
            method="POST",
            headers={"Host": SITE},
            content_type="application/x-www-form-urlencoded",
        ).get_environ()
        environ["wsgi.input"] = body
        environ["CONTENT_LENGTH"] = str(5_000_007)
        statuses: list[str] = []
        b"".join(
            middleware(environ, lambda status, headers, exc_info=None: statuses.append(status))
        )
        assert statuses[0].startswith("413")
        assert body.consumed == 0
        assert middleware.store.linkbacks() == []


def test_body_without_length_is_capped(tmp_path: Path) -> None:
    with receiving(tmp_path) as (middleware, _client):
        body = CountingInput(b"source=" + b"a" * 5_000_000)
        environ = EnvironBuilder(
            path="/.linkback/webmention",
            method="POST",
            headers={"Host": SITE},
            content_type="application/x-www-form-urlencoded",
        ).get_environ()
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input"] = body
        environ["wsgi.input_terminated"] = True  # a chunked body: length unknown
        statuses: list[str] = []
        b"".join(
            middleware(environ, lambda status, headers, exc_info=None: statuses.append(status))
        )
        assert statuses[0].startswith("413")
        assert body.consumed <= 32 * 1024 + 1


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_wrong_methods(tmp_path: Path, method: str) -> None:
    with receiving(tmp_path) as (middleware, client):
        for path in ("/.linkback/webmention", "/.linkback/xmlrpc", "/.linkback/trackback/post"):
            response = client.open(
                path, method=method, data={"source": SOURCE, "target": POST}, headers={"Host": SITE}
            )
            assert response.status_code == 405, path
            assert "POST" in response.headers["Allow"]
        assert middleware.store.linkbacks() == []


def test_wrong_content_types(tmp_path: Path) -> None:
    with receiving(tmp_path) as (middleware, client):
        for content_type in ("text/plain", "multipart/form-data; boundary=x", "application/json"):
            response = client.post(
                "/.linkback/webmention",
                data="source=%s&target=%s" % (SOURCE, POST),
                content_type=content_type,
                headers={"Host": SITE},
            )
            assert response.status_code == 400, content_type
            tb = client.post(
                "/.linkback/trackback/post",
                data="url=%s" % SOURCE,
                content_type=content_type,
                headers={"Host": SITE},
            )
            assert b"<error>1</error>" in tb.get_data()
        form = xmlrpc(
            client, b"source=a&target=b", content_type="application/x-www-form-urlencoded"
        )
        assert call_fault(form) == -32700
        assert middleware.store.linkbacks() == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(
            "&".join("f%d=x" % i for i in range(50)), "too many form fields", id="many fields"
        ),
        pytest.param("source=%ff%fe&target=" + POST, "source must be", id="invalid utf-8"),
        pytest.param(
            "source=https://a.example/%0d%0aSet-Cookie:x&target=" + POST, "", id="header injection"
        ),
        pytest.param(
            "source=https://a.example/\x00&target=" + POST, "source must be", id="nul byte"
        ),
        pytest.param(
            "source=" + "https://a.example/" + "a" * 3000 + "&target=" + POST,
            "source must be",
            id="overlong url",
        ),
    ],
)
def test_malformed_forms(tmp_path: Path, body: str, reason: str) -> None:
    with receiving(tmp_path) as (middleware, client):
        response = client.post(
            "/.linkback/webmention",
            data=body,
            headers={"Host": SITE},
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code in (201, 400)
        assert reason in response.get_data(as_text=True)
        assert "Set-Cookie" not in response.headers
        for row in middleware.store.linkbacks():
            assert "\r" not in row["source"] and "\n" not in row["source"]


def test_flood_from_one_address(tmp_path: Path) -> None:
    with receiving(tmp_path) as (middleware, client):
        answers = [
            webmention(client, "https://s%d.example/" % i, POST, address="198.51.100.7").status_code
            for i in range(25)
        ]
        assert answers == [201] * 20 + [429] * 5
        refused = webmention(client, "https://late.example/", POST, address="198.51.100.7")
        assert int(refused.headers["Retry-After"]) >= 1
        # Pingback and Trackback answer the same flood in their own form.
        assert ping(client, "https://p.example/", POST, address="198.51.100.7").code == 0x0031
        assert (
            b"<error>1</error>"
            in trackback(
                client, "/post", {"url": "https://t.example/"}, address="198.51.100.7"
            ).get_data()
        )
        assert len(middleware.store.linkbacks()) == 20
        # Another address is not affected.
        assert (
            webmention(client, "https://other.example/", POST, address="198.51.100.8").status_code
            == 201
        )


def test_flood_naming_one_third_party(tmp_path: Path) -> None:
    """Many senders naming pages of one site as source cannot make us fetch it unboundedly."""
    with receiving(tmp_path) as (middleware, client):
        answers = [
            webmention(
                client,
                "https://www%d.victim.example/p/%d" % (i % 3, i),
                POST,
                address="203.0.113.%d" % (i % 250),
            ).status_code
            for i in range(40)
        ]
        assert answers.count(201) == 30 and answers[30:] == [429] * 10
        assert len(middleware.store.due_jobs(limit=1000)) == 30


def test_global_limit(tmp_path: Path) -> None:
    with receiving(tmp_path, protocol_limits={"total": (5, 3600)}) as (middleware, client):
        answers = [
            webmention(
                client, "https://s%d.example/" % i, POST, address="203.0.113.%d" % i
            ).status_code
            for i in range(8)
        ]
        assert answers == [201] * 5 + [429] * 3
        assert len(middleware.store.linkbacks()) == 5


def test_invalid_requests_spend_client_tokens_not_storage(tmp_path: Path) -> None:
    with receiving(tmp_path) as (middleware, client):
        for _ in range(30):
            webmention(client, "nope", POST, address="198.51.100.9")
        assert webmention(client, SOURCE, POST, address="198.51.100.9").status_code == 429
        assert middleware.store.linkbacks() == []


def test_misconfigured_limits_fail_when_the_middleware_is_built(tmp_path: Path) -> None:
    from linkback.errors import ConfigError

    with pytest.raises(ConfigError, match="protocol_limits"):
        with receiving(tmp_path, protocol_limits={"client": "lots"}):
            pass


def test_rate_limiter_refills_and_forgets() -> None:
    now = [0.0]
    limiter = RateLimiter(3, 60.0, max_keys=2, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.retry_after("a") == 20
    now[0] += 20
    assert limiter.allow("a") and not limiter.allow("a")
    limiter.allow("b")
    limiter.allow("c")  # "a" is the least recently used: forgotten, so full again
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert RateLimiter(0, 60.0).allow("x") is False


def test_limits_option() -> None:
    from linkback.errors import ConfigError

    assert Limits.from_option({"client": (5, 60)}).client == (5, 60.0)
    for bad in (
        {"client": (5,)},
        {"clients": (5, 60)},
        {"total": (-1, 60)},
        {"source": (5, 0)},
        "x",
    ):
        with pytest.raises(ConfigError):
            Limits.from_option(bad)


def test_any_form_is_answered_with_201_or_400(tmp_path: Path) -> None:
    """Property: whatever source and target say, the answer is 201 or 400, never a crash,
    and only normalised http(s) URLs are stored."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    urlish = st.one_of(
        st.text(max_size=60),
        st.builds(
            lambda h, p: "https://%s/%s" % (h, p), st.text(max_size=15), st.text(max_size=20)
        ),
        st.sampled_from([POST, POST + "?utm_source=x", "https://example.com/missing", SOURCE]),
    )
    limits = {"client": (10**6, 1.0), "source": (10**6, 1.0), "total": (10**6, 1.0)}
    with receiving(tmp_path, protocol_limits=limits) as (middleware, client):

        @settings(max_examples=150, deadline=None)
        @given(urlish, urlish)
        def check(source: str, target: str) -> None:
            response = client.post(
                "/.linkback/webmention",
                data={"source": source, "target": target},
                headers={"Host": SITE},
            )
            assert response.status_code in (201, 400), response.get_data(as_text=True)

        check()
        for row in middleware.store.linkbacks():
            assert row["source"].startswith(("http://", "https://"))
            assert row["target"] == POST


def test_any_body_is_answered(tmp_path: Path) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    limits = {"client": (10**6, 1.0)}
    with receiving(tmp_path, protocol_limits=limits) as (_middleware, client):

        @settings(max_examples=100, deadline=None)
        @given(
            st.binary(max_size=300), st.sampled_from(["/webmention", "/xmlrpc", "/trackback/post"])
        )
        def check(body: bytes, path: str) -> None:
            response = client.post(
                "/.linkback" + path,
                data=body,
                headers={"Host": SITE},
                content_type="application/x-www-form-urlencoded",
            )
            assert response.status_code in (200, 201, 400)

        check()
