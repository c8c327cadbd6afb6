"""The SSRF matrix: every refused case asserts that no connection reached the forbidden address.

Two witnesses: an audit hook records every ``socket.connect`` the process makes (so a
refused private or metadata address is shown never to be dialled, without any traffic
leaving the machine), and recording listeners on loopback addresses show that nothing
arrived where a public-looking name pointed.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from servers import pages_app, serve

from linkback.errors import FetchError, UnsafeURLError
from linkback.fetch import fetch, is_public_address, make_session, parse_ipv4_loose

# --- witnesses ----------------------------------------------------------------------------------

_CONNECTS: list[Any] = []
_RECORDING = threading.Event()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect" and _RECORDING.is_set():
        _CONNECTS.append(args[1])


sys.addaudithook(_audit)


@pytest.fixture
def connects() -> Iterator[list[Any]]:
    """Every address a socket of this process tried to connect to during the test."""
    _CONNECTS.clear()
    _RECORDING.set()
    try:
        yield _CONNECTS
    finally:
        _RECORDING.clear()


class Listener:
    """A TCP listener that records connections (and answers a minimal HTTP page)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.accepted: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(peer)
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nhi")
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def _to(address: str) -> Any:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return lambda host, port: [(family, (address, port) if family == socket.AF_INET else (address, port, 0, 0))]


def _dialled(connects: list[Any], address: str) -> bool:
    return any(str(c[0]) == address for c in connects if isinstance(c, tuple))


# --- refused address classes ---------------------------------------------------------------------

FORBIDDEN = [
    pytest.param("127.0.0.1", id="loopback"),
    pytest.param("127.53.0.1", id="loopback /8"),
    pytest.param("10.0.0.1", id="private 10/8"),
    pytest.param("172.16.5.4", id="private 172.16/12"),
    pytest.param("192.168.1.1", id="private 192.168/16"),
    pytest.param("169.254.169.254", id="cloud metadata (link-local)"),
    pytest.param("100.100.100.200", id="shared 100.64/10 (alibaba metadata)"),
    pytest.param("0.0.0.0", id="unspecified"),
    pytest.param("224.0.0.1", id="multicast"),
    pytest.param("240.0.0.1", id="reserved"),
    pytest.param("255.255.255.255", id="broadcast"),
    pytest.param("192.0.2.10", id="documentation"),
    pytest.param("198.18.0.1", id="benchmarking"),
    pytest.param("::1", id="ipv6 loopback"),
    pytest.param("::", id="ipv6 unspecified"),
    pytest.param("fe80::1", id="ipv6 link-local"),
    pytest.param("fd00:ec2::254", id="ipv6 unique-local (aws metadata)"),
    pytest.param("ff02::1", id="ipv6 multicast"),
    pytest.param("::ffff:127.0.0.1", id="ipv4-mapped loopback"),
    pytest.param("::ffff:169.254.169.254", id="ipv4-mapped metadata"),
    pytest.param("::127.0.0.1", id="ipv4-compatible loopback"),
    pytest.param("2002:7f00:1::1", id="6to4 of loopback"),
    pytest.param("2002:a9fe:a9fe::1", id="6to4 of metadata"),
    pytest.param("64:ff9b::a9fe:a9fe", id="nat64 of metadata"),
]


@pytest.mark.parametrize("address", FORBIDDEN)
def test_forbidden_address_as_literal_is_refused_before_connecting(address: str, connects: list[Any]) -> None:
    host = "[%s]" % address if ":" in address else address
    with pytest.raises(UnsafeURLError):
        fetch("http://%s:8080/" % host)
    assert not _dialled(connects, address)
    assert connects == []


@pytest.mark.parametrize("address", FORBIDDEN)
def test_public_looking_name_resolving_to_forbidden_address_is_refused(address: str, connects: list[Any]) -> None:
    with pytest.raises(UnsafeURLError):
        fetch("http://innocent.example/", resolver=_to(address))
    assert connects == []


@pytest.mark.parametrize("notation", [
    pytest.param("2130706433", id="decimal"),
    pytest.param("0x7f000001", id="hex"),
    pytest.param("0x7f.0.0.1", id="hex first part"),
    pytest.param("0177.0.0.1", id="octal"),
    pytest.param("127.1", id="two parts"),
    pytest.param("127.0.1", id="three parts"),
    pytest.param("017700000001", id="octal whole"),
])
def test_odd_ipv4_notations_of_loopback_are_refused(notation: str, listener: Listener, connects: list[Any]) -> None:
    assert str(parse_ipv4_loose(notation)) == "127.0.0.1"
    with pytest.raises(UnsafeURLError):
        fetch("http://%s:%d/" % (notation, listener.port))
    assert connects == []
    assert listener.accepted == []


def test_name_resolving_to_loopback_never_reaches_the_listener(listener: Listener, connects: list[Any]) -> None:
    with pytest.raises(UnsafeURLError):
        fetch("http://totally-public.example:%d/" % listener.port, resolver=_to("127.0.0.1"))
    assert connects == []
    assert listener.accepted == []


def test_localhost_via_the_system_resolver_is_refused(listener: Listener, connects: list[Any]) -> None:
    # localhost resolves from /etc/hosts: no DNS traffic leaves the machine.
    with pytest.raises(UnsafeURLError):
        fetch("http://localhost:%d/" % listener.port)
    assert listener.accepted == []
    assert connects == []


def test_any_forbidden_address_among_several_refuses_the_name(listener: Listener, connects: list[Any]) -> None:
    def both(host: str, port: int) -> list[Any]:
        return [(socket.AF_INET, ("93.184.216.34", port)), (socket.AF_INET, ("127.0.0.1", port))]

    with pytest.raises(UnsafeURLError):
        fetch("http://mixed.example:%d/" % listener.port, resolver=both)
    assert connects == []
    assert listener.accepted == []


def test_the_checked_address_is_the_one_connected_to(listener: Listener, connects: list[Any]) -> None:
    """One lookup: a resolver that answers differently the second time (DNS rebinding) is
    asked once, and the socket goes to the address that was checked."""
    answers = iter(["127.0.0.1", "10.9.9.9"])
    calls = []

    def rebinding(host: str, port: int) -> list[Any]:
        calls.append(host)
        return [(socket.AF_INET, (next(answers), port))]

    page = fetch("http://rebind.example:%d/" % listener.port, resolver=rebinding,
                 address_allowed=lambda ip: ip == "127.0.0.1")
    assert page.status == 200 and page.peer == "127.0.0.1"
    assert calls == ["rebind.example"]
    assert [c[0] for c in connects] == ["127.0.0.1"]
    assert len(listener.accepted) == 1


# --- redirects ---------------------------------------------------------------------------------------


def test_redirect_to_a_private_address_is_refused(connects: list[Any]) -> None:
    inner = Listener("127.0.0.2")
    try:
        app = pages_app({"/": (302, {"Location": "http://intranet.example:%d/secret" % inner.port}, "")})
        with serve(app) as base:
            resolver = {"intranet.example": "127.0.0.2"}

            def resolve(host: str, port: int) -> list[Any]:
                return [(socket.AF_INET, (resolver.get(host, host), port))]

            with pytest.raises(UnsafeURLError):
                fetch(base + "/", resolver=resolve, address_allowed=lambda ip: ip == "127.0.0.1")
        assert inner.accepted == []
        assert not _dialled(connects, "127.0.0.2")
    finally:
        inner.close()


@pytest.mark.parametrize("location", [
    pytest.param("http://169.254.169.254/latest/meta-data/", id="metadata literal"),
    pytest.param("http://[::ffff:10.0.0.1]/", id="mapped private literal"),
    pytest.param("file:///etc/passwd", id="file scheme"),
    pytest.param("gopher://127.0.0.1:6379/_INFO", id="gopher scheme"),
])
def test_redirect_to_forbidden_targets_is_refused(location: str, connects: list[Any]) -> None:
    app = pages_app({"/": (301, {"Location": location}, "")})
    with serve(app) as base:
        with pytest.raises(UnsafeURLError):
            fetch(base + "/", address_allowed=lambda ip: ip == "127.0.0.1")
    assert {c[0] for c in connects} == {"127.0.0.1"}


def test_more_than_five_redirects_fail_after_the_fifth_hop() -> None:
    pages = {"/r%d" % i: (302, {"Location": "/r%d" % (i + 1)}, "") for i in range(10)}
    app = pages_app(pages)
    with serve(app) as base:
        with pytest.raises(FetchError, match="redirects"):
            fetch(base + "/r0", allow_private_networks=True)
        page = fetch(base + "/r0", allow_private_networks=True, max_redirects=10)
    assert [path for _m, path, _h in app.requests[:6]] == ["/r0", "/r1", "/r2", "/r3", "/r4", "/r5"]
    assert len(app.requests) == 6 + 11
    assert page.status == 404 and len(page.redirects) == 10


# --- bodies and time ------------------------------------------------------------------------------


def test_an_oversized_body_is_cut_at_max_bytes() -> None:
    big = b"<p>" + b"x" * 5_000_000
    app = pages_app({"/": (200, {"Content-Type": "text/html"}, big)})
    with serve(app) as base:
        page = fetch(base + "/", allow_private_networks=True, max_bytes=100_000)
    assert page.truncated and len(page.content) == 100_000


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """200 MB of zeros, gzipped to about 200 kB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    parts = [compressor.compress(chunk) for _ in range(200)]
    parts.append(compressor.flush())
    return b"".join(parts)


def test_a_gzip_bomb_is_inflated_only_up_to_max_bytes(gzip_bomb: bytes) -> None:
    headers = {"Content-Type": "text/html", "Content-Encoding": "gzip"}
    app = pages_app({"/": (200, headers, gzip_bomb)})
    with serve(app) as base:
        page = fetch(base + "/", allow_private_networks=True, max_bytes=1_000_000)
    assert len(gzip_bomb) < 400_000
    assert page.truncated and len(page.content) == 1_000_000
    assert page.content == bytes(1_000_000)


class Dripper:
    """A raw server that sends its response one byte at a time, forever (until the client goes)."""

    def __init__(self, headers_first: bool) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.headers_first = headers_first
        self.sent = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        conn.recv(65536)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n"
        try:
            if self.headers_first:
                conn.sendall(head)
                payload = b"x" * 100000
            else:
                payload = head
            # Bounded: at most 30 s of drip even if nobody hangs up.
            for byte in payload[:300]:
                conn.sendall(bytes([byte]))
                self.sent += 1
                time.sleep(0.1)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()
        self._thread.join(1)


@pytest.mark.parametrize("headers_first", [True, False], ids=["slow body", "slow headers"])
def test_a_slow_drip_is_cut_by_the_deadline(headers_first: bool) -> None:
    dripper = Dripper(headers_first)
    try:
        with pytest.raises(FetchError, match="deadline"):
            fetch("http://127.0.0.1:%d/" % dripper.port, allow_private_networks=True, deadline=0.8)
        assert dripper.sent < 300  # the client hung up long before the drip ended
    finally:
        dripper.close()


def test_a_non_html_content_type_is_refused_with_html_only() -> None:
    app = pages_app({"/x.bin": (200, {"Content-Type": "application/octet-stream"}, b"\x00" * 1000)})
    with serve(app) as base:
        with pytest.raises(FetchError, match="not an HTML page"):
            fetch(base + "/x.bin", allow_private_networks=True, html_only=True)
        page = fetch(base + "/x.bin", allow_private_networks=True)
    assert not page.is_html


# --- schemes, credentials, proxies ------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "ftp://example.com/", "gopher://example.com/", "javascript:alert(1)",
    "data:text/html,hi", "http://user:pass@example.com/", "http:///nohost", "//example.com/",
    "http://example.com:99999/",
])
def test_bad_urls_are_refused(url: str, connects: list[Any]) -> None:
    with pytest.raises(UnsafeURLError):
        fetch(url)
    assert connects == []


def test_proxy_settings_from_the_environment_are_ignored(monkeypatch: pytest.MonkeyPatch, listener: Listener) -> None:
    proxy = "http://127.0.0.1:%d" % listener.port
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy)
    with pytest.raises(UnsafeURLError):
        fetch("http://innocent.example/", resolver=_to("10.1.1.1"))
    assert listener.accepted == []


def test_a_session_with_proxies_is_refused() -> None:
    session = make_session()
    session.proxies["http"] = "http://127.0.0.1:1"
    with pytest.raises(UnsafeURLError):
        fetch("http://example.com/", session=session)


def test_a_reused_session_does_not_carry_a_permissive_connection_over(listener: Listener) -> None:
    session = make_session()
    page = fetch("http://127.0.0.1:%d/" % listener.port, session=session, allow_private_networks=True)
    assert page.status == 200
    with pytest.raises(UnsafeURLError):
        fetch("http://127.0.0.1:%d/" % listener.port, session=session)
    assert len(listener.accepted) == 1


@pytest.mark.parametrize("address,public", [
    ("93.184.216.34", True), ("2606:2800:220:1:248:1893:25c8:1946", True), ("8.8.8.8", True),
    ("::ffff:8.8.8.8", True), ("127.0.0.1", False), ("10.0.0.1", False), ("not an ip", False),
    ("fe80::1%eth0", False),
])
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(address) is public
