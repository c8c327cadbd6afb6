"""The Pingback 1.0 receiver and the XML-RPC codec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkback.protocols import xmlrpc
from linkback.protocols.sender import read_pingback_answer
from linkback.protocols.xmlrpc import (
    Fault,
    dump_call,
    dump_fault,
    dump_response,
    parse_call,
    parse_response,
)
from tests.protocol_helpers import POST, SITE, ping, receiving, set_status
from tests.protocol_helpers import xmlrpc as post_xmlrpc

SOURCE = "https://wp.example.org/2024/05/a-reply/"


def fault_code(result: Any) -> int | None:
    return result.code if isinstance(result, Fault) else None


def test_ping_registered_then_already_registered(tmp_path: Path) -> None:
    with receiving(tmp_path) as (middleware, client):
        result = ping(client, SOURCE, POST)
        assert isinstance(result, str) and "registered" in result
        [row] = middleware.store.linkbacks()
        assert (row["kind"], row["status"], row["source"]) == ("pingback", "pending", SOURCE)
        assert len(middleware.store.due_jobs()) == 1
        assert fault_code(ping(client, SOURCE, POST)) == 0x0030
        set_status(middleware, row["id"], "verified")
        assert fault_code(ping(client, SOURCE, POST)) == 0x0030
        assert len(middleware.store.linkbacks()) == 1


@pytest.mark.parametrize(
    ("source", "target", "code"),
    [
        pytest.param("not a url", POST, 0x0010, id="source not a URL"),
        pytest.param("http://192.168.1.1/x", POST, 0x0010, id="private source"),
        pytest.param(
            SOURCE, "https://example.com/nothing-here", 0x0020, id="target does not exist"
        ),
        pytest.param(SOURCE, "https://other.example/post", 0x0021, id="target on another site"),
        pytest.param(SOURCE, "gopher://example.com/post", 0x0021, id="target not http"),
        pytest.param(POST, POST, 0, id="source is target"),
        pytest.param("https://spam.example/x", POST, 0x0031, id="blacklisted source"),
    ],
)
def test_fault_codes(tmp_path: Path, source: str, target: str, code: int) -> None:
    with receiving(tmp_path, blacklist=["spam.example"]) as (middleware, client):
        assert fault_code(ping(client, source, target)) == code
        assert middleware.store.linkbacks() == []


@pytest.mark.parametrize(
    ("status", "code"),
    [("unverified", 0x0011), ("gone", 0x0010), ("error", 0x0032), ("blocked", 0x0031)],
)
def test_faults_from_a_recent_check(tmp_path: Path, status: str, code: int) -> None:
    """A ping of a pair checked moments ago is answered from that check, without re-fetching."""
    with receiving(tmp_path) as (middleware, client):
        middleware.store.record_hits({(SOURCE, POST, SITE, "2024-01-01"): (1, {1: 1})})
        [row] = middleware.store.linkbacks()
        set_status(middleware, row["id"], status, checked=True)
        with middleware.store.write() as conn:
            conn.execute("DELETE FROM jobs")
        assert fault_code(ping(client, SOURCE, POST)) == code
        assert middleware.store.due_jobs(now=10**10) == []


def test_stale_failed_check_is_queued_again(tmp_path: Path) -> None:
    with receiving(tmp_path) as (middleware, client):
        middleware.store.record_hits({(SOURCE, POST, SITE, "2024-01-01"): (1, {1: 1})})
        [row] = middleware.store.linkbacks()
        set_status(middleware, row["id"], "unverified")  # checked long ago (no fetch on record)
        assert isinstance(ping(client, SOURCE, POST), str)
        row = middleware.store.linkback(row["id"])
        assert (row["status"], row["kind"]) == ("pending", "pingback")


def test_get_pingbacks(tmp_path: Path) -> None:
    with receiving(tmp_path) as (middleware, client):
        for n in range(3):
            assert isinstance(ping(client, "https://p%d.example/x" % n, POST), str)
        rows = {r["source"]: r["id"] for r in middleware.store.linkbacks()}
        set_status(middleware, rows["https://p0.example/x"], "verified")
        set_status(middleware, rows["https://p2.example/x"], "verified")

        def get(url: Any) -> Any:
            response = post_xmlrpc(client, dump_call("pingback.extensions.getPingbacks", [url]))
            try:
                return parse_response(response.get_data())
            except Fault as fault:
                return fault

        assert get(POST) == ["https://p0.example/x", "https://p2.example/x"]
        assert get("https://example.com/about") == []
        assert fault_code(get("https://example.com/missing")) == 0x0020
        assert fault_code(get("https://other.example/post")) == 0x0021
        assert fault_code(get(42)) == xmlrpc.INVALID_PARAMS


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(
            dump_call(
                "system.multicall",
                [[{"methodName": "pingback.ping", "params": [SOURCE, POST]}] * 50],
            ),
            xmlrpc.METHOD_NOT_FOUND,
            id="system.multicall",
        ),
        pytest.param(
            dump_call("system.listMethods", []), xmlrpc.METHOD_NOT_FOUND, id="introspection"
        ),
        pytest.param(
            dump_call("wp.getUsersBlogs", ["admin", "password"]),
            xmlrpc.METHOD_NOT_FOUND,
            id="wordpress api",
        ),
        pytest.param(
            dump_call("pingback.ping", [SOURCE]), xmlrpc.INVALID_PARAMS, id="one parameter"
        ),
        pytest.param(
            dump_call("pingback.ping", [SOURCE, POST, "x"]),
            xmlrpc.INVALID_PARAMS,
            id="three parameters",
        ),
        pytest.param(dump_call("pingback.ping", [1, 2]), xmlrpc.INVALID_PARAMS, id="integers"),
        pytest.param(
            dump_call("pingback.ping", [{"a": SOURCE}, [POST]]),
            xmlrpc.INVALID_PARAMS,
            id="struct and array",
        ),
        pytest.param(
            dump_call("pingback.ping", [SOURCE.encode(), POST.encode()]),
            xmlrpc.INVALID_PARAMS,
            id="base64",
        ),
        pytest.param(b"<methodResponse/>", xmlrpc.INVALID_XMLRPC, id="not a call"),
        pytest.param(
            b"<methodCall><params/></methodCall>", xmlrpc.INVALID_XMLRPC, id="no method name"
        ),
        pytest.param(
            b"<methodCall><methodName>pingback.ping</methodName><params><param><value><int>x</int>"
            b"</value></param></params></methodCall>",
            xmlrpc.INVALID_XMLRPC,
            id="bad int",
        ),
        pytest.param(b"<methodCall><methodName>pingback.ping", xmlrpc.PARSE_ERROR, id="truncated"),
        pytest.param(b"", xmlrpc.PARSE_ERROR, id="empty"),
        pytest.param(b"source=a&target=b", xmlrpc.PARSE_ERROR, id="form body"),
    ],
)
def test_malformed_calls(tmp_path: Path, body: bytes, code: int) -> None:
    with receiving(tmp_path) as (middleware, client):
        response = post_xmlrpc(client, body)
        assert response.status_code == 200 and response.mimetype == "text/xml"
        with pytest.raises(Fault) as raised:
            parse_response(response.get_data())
        assert raised.value.code == code
        assert middleware.store.linkbacks() == []


def test_only_post(tmp_path: Path) -> None:
    with receiving(tmp_path) as (_middleware, client):
        response = client.get("/.linkback/xmlrpc", headers={"Host": SITE})
        assert response.status_code == 405
        assert "POST requests only" in response.get_data(as_text=True)


def test_untyped_value_is_a_string() -> None:
    body = (
        b"<?xml version='1.0'?><methodCall><methodName>pingback.ping</methodName><params>"
        b"<param><value>https://a.example/</value></param>"
        b"<param><value><string>https://b.example/</string></value></param></params></methodCall>"
    )
    assert parse_call(body) == ("pingback.ping", ["https://a.example/", "https://b.example/"])


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**31), 2**31 - 1)
    | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.binary(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _xml_safe(value: Any) -> Any:
    """What survives XML: characters XML 1.0 cannot carry are dropped (CR is escaped, kept)."""
    if isinstance(value, str):
        return xmlrpc._clean(value)
    if isinstance(value, list):
        return [_xml_safe(v) for v in value]
    if isinstance(value, dict):
        return {_xml_safe(k): _xml_safe(v) for k, v in value.items()}
    return value


@given(st.lists(values, max_size=4))
def test_codec_round_trip(params: list[Any]) -> None:
    assert parse_call(dump_call("m.x", params)) == ("m.x", _xml_safe(params))
    assert parse_response(dump_response(params)) == _xml_safe(params)


@given(st.integers(-(2**31), 2**31 - 1), st.text(max_size=50))
def test_fault_round_trip(code: int, message: str) -> None:
    with pytest.raises(Fault) as raised:
        parse_response(dump_fault(code, message))
    assert raised.value.code == code
    assert raised.value.message == _xml_safe(message)


@given(st.binary(max_size=400))
def test_parser_only_raises_faults(body: bytes) -> None:
    try:
        parse_call(body)
    except Fault:
        pass


def test_mention_client_php_endpoint_replies(corpus: Path) -> None:
    """The canned replies of mention-client-php: a success string and a -32700 fault."""
    from tests.test_discovery import raw_response

    folder = corpus / "mention-client-php" / "data" / "pingback-endpoint.example"
    _status, _headers, body = raw_response(folder / "valid-response")
    assert read_pingback_answer(body) == (True, "pingback was successful")
    _status, _headers, body = raw_response(folder / "invalid-request")
    with pytest.raises(Fault) as raised:
        parse_response(body)
    assert raised.value.code == -32700
    assert read_pingback_answer(body)[0] is False
    for name in ("invalid-body", "empty-body", "invalid-xmlrpc"):
        _status, _headers, body = raw_response(folder / name)
        assert read_pingback_answer(body)[0] is False, name
