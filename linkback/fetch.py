"""Fetching remote pages safely: the URL is the attacker's, the request leaves our server.

A Referer or a Webmention ``source`` can name any URL, so a naive fetch is a server-side
request forgery (SSRF) primitive: ``http://169.254.169.254/`` reads cloud credentials,
``http://127.0.0.1:6379/`` talks to a local service, and a name whose DNS answer changes
between the check and the connection (DNS rebinding) slips past a check made on the host
string. :func:`fetch` defends against all of these:

* Only ``http`` and ``https``; no credentials in the URL; proxies from the environment are
  ignored (``trust_env=False``), since a proxy hides the real peer from the check.
* The host is resolved once, inside the connection (the design of the ``advocate`` package):
  every address it resolves to must be global (not loopback, private, link-local — cloud
  metadata included —, shared, multicast, reserved or unspecified, also when wrapped in an
  IPv4-mapped, -compatible, 6to4 or NAT64 IPv6 address), and the socket connects to that
  checked address, so no second lookup can switch it. Numeric hosts in odd notations
  (``2130706433``, ``0x7f.1``, ``0177.0.0.1``) are read the way ``inet_aton`` reads them
  before the check, and are never sent to DNS.
* Redirects are followed by hand, each hop checked the same way, at most ``max_redirects``.
* The body is read as a stream and capped after decompression (``max_bytes`` decoded bytes:
  a gzip bomb costs nothing), and the whole fetch has a deadline enforced by a watchdog that
  shuts the sockets down, since requests' timeout applies per socket read and a server that
  drips one byte a second would never trip it.

>>> page = fetch("https://example.com/post", html_only=True)   # doctest: +SKIP
>>> page.final_url, page.status, page.text[:15]                  # doctest: +SKIP
('https://example.com/post', 200, '<!doctype html>')
"""

from __future__ import annotations

import contextvars
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from . import __version__
from .errors import FetchError, UnsafeURLError
from .extract import decode_html, is_html_type

logger = logging.getLogger(__name__)

#: Our User-Agent: it names linkback and where a site owner can learn what it is.
USER_AGENT = "linkback/%s (+https://pypi.org/project/linkback/; verifies links to a site)" % (
    __version__
)
#: Decoded bytes read at most from one response.
DEFAULT_MAX_BYTES = 1_000_000
#: Seconds a whole fetch (all redirects, headers and body) may take.
DEFAULT_DEADLINE = 10.0
#: Redirect hops followed at most.
DEFAULT_MAX_REDIRECTS = 5

#: ``resolver(host, port)`` returns ``getaddrinfo``-style ``(family, sockaddr)`` pairs.
Resolver = Callable[[str, int], Sequence[tuple[int, tuple[Any, ...]]]]

_CHUNK = 16_384
_REDIRECTS = (301, 302, 303, 307, 308)
# Ranges whose IPv6 addresses carry an IPv4 address that is the real destination.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_6TO4 = ipaddress.IPv6Network("2002::/16")


def system_resolver(host: str, port: int) -> list[tuple[int, tuple[Any, ...]]]:
    """Resolve with the system's ``getaddrinfo``; TCP addresses only."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise FetchError("cannot resolve %s: %s" % (host, e)) from None
    return [(family, sockaddr) for family, _type, _proto, _name, sockaddr in infos]


# --- address checks ----------------------------------------------------------------------------


def parse_ipv4_loose(host: str) -> ipaddress.IPv4Address | None:
    """Read ``host`` as ``inet_aton`` does: 1 to 4 parts, each decimal, octal (``0``) or hex.

    ``2130706433``, ``0x7f000001``, ``0177.0.0.1`` and ``127.1`` are all 127.0.0.1 to the C
    library, so a check on the host string alone would miss them.
    """
    parts = host.rstrip(".").split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        try:
            if part[:2].lower() == "0x":
                number = int(part[2:], 16) if len(part) > 2 else 0
            elif len(part) > 1 and part[0] == "0":
                number = int(part, 8)
            else:
                number = int(part, 10) if part.isdigit() else -1
        except ValueError:
            return None
        if number < 0:
            return None
        numbers.append(number)
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = 0
    for n in head:
        value = value << 8 | n
    value = value << 8 * (4 - len(head)) | last
    return ipaddress.IPv4Address(value)


def unwrap_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, 6to4, NAT64), else itself."""
    if ip.version == 4:
        return ip
    assert isinstance(ip, ipaddress.IPv6Address)
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    packed = ip.packed
    if packed[:12] == bytes(12) and ip not in (ipaddress.IPv6Address("::"), ipaddress.IPv6Address("::1")):
        return ipaddress.IPv4Address(packed[12:])  # deprecated IPv4-compatible form ::a.b.c.d
    if ip in _6TO4:
        return ipaddress.IPv4Address(packed[2:6])
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(packed[12:])
    return ip


def is_public_address(address: str) -> bool:
    """True only for a globally routable unicast address (the unwrapped IPv4 if it wraps one).

    ``ipaddress``'s ``is_global`` excludes loopback, RFC 1918 and RFC 4193 private ranges,
    link-local (169.254.169.254, the cloud metadata service, lives there), 100.64/10 shared
    space, documentation and reserved ranges; multicast is excluded explicitly.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    ip = unwrap_ip(ip)
    return ip.is_global and not ip.is_multicast and not ip.is_unspecified


@dataclass
class Guard:
    """The rules of one fetch and the sockets it opened (so the deadline can close them)."""

    allow_private_networks: bool = False
    resolver: Resolver = system_resolver
    #: ``address_allowed(ip)`` replaces the public-address rule when given.
    address_allowed: Callable[[str], bool] | None = None
    deadline: float = float("inf")
    sockets: list[socket.socket] = field(default_factory=list)
    expired: bool = False
    peer: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def addresses(self, host: str, port: int) -> list[tuple[int, tuple[Any, ...]]]:
        """The checked addresses to connect to for ``host``; raise if any is forbidden."""
        host = host.strip("[]")
        literal = _literal_ip(host)
        if literal is not None:
            family = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
            sockaddr: tuple[Any, ...] = (str(literal), port) if literal.version == 4 else (str(literal), port, 0, 0)
            found = [(family, sockaddr)]
        else:
            found = list(self.resolver(host, port))
            if not found:
                raise FetchError("%s resolved to no address" % host)
        allowed = self.address_allowed or (None if self.allow_private_networks else is_public_address)
        if allowed is not None:
            # Every address must pass: a name answering with one public and one private
            # address would otherwise reach the private one when the first refuses.
            for _family, addr in found:
                if not allowed(str(addr[0])):
                    raise UnsafeURLError("%s resolves to a forbidden address (%s)" % (host, addr[0]))
        return found

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self.sockets.append(sock)
            if self.expired:
                _shutdown(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self.sockets:
                _shutdown(sock)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _literal_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return None
    return parse_ipv4_loose(host)


# A connection made outside fetch() (someone using a session from make_session() directly)
# gets the strict default rules.
_current: contextvars.ContextVar[Guard | None] = contextvars.ContextVar("linkback_fetch_guard", default=None)


class _GuardedConnectionMixin:
    """Resolve, check and connect to the checked address, all in one place (no second lookup)."""

    host: str
    port: int
    timeout: Any
    socket_options: Any

    def _new_conn(self) -> socket.socket:
        guard = _current.get() or Guard()
        try:
            addresses = guard.addresses(self.host, self.port)
        except UnsafeURLError:
            raise
        except FetchError as e:
            raise NewConnectionError(self, str(e)) from None  # type: ignore[arg-type]
        error: OSError | None = None
        for family, sockaddr in addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            guard.track(sock)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                timeout = self.timeout
                if isinstance(timeout, (int, float)):
                    sock.settimeout(max(0.001, min(timeout, guard.remaining())))
                sock.connect(sockaddr)
            except TimeoutError as e:
                sock.close()
                raise ConnectTimeoutError(self, "connection to %s timed out" % self.host) from e
            except OSError as e:
                sock.close()
                error = e
                continue
            if isinstance(self.timeout, (int, float)):
                sock.settimeout(self.timeout)
            guard.peer = str(sockaddr[0])
            return sock
        raise NewConnectionError(self, "cannot connect to %s: %s" % (self.host, error))  # type: ignore[arg-type]


class GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose connections check their address; proxies are refused."""

    def __init__(self, **kwargs: Any) -> None:
        self.policy: tuple[Any, ...] | None = None
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise UnsafeURLError("linkback does not fetch through proxies: the proxy would hide the peer")

    def use_policy(self, policy: tuple[Any, ...]) -> None:
        # A kept-alive connection was checked under the rules of the fetch that opened it;
        # when the rules change (private networks allowed or not), drop the pool.
        if self.policy is not None and self.policy != policy:
            self.poolmanager.clear()
        self.policy = policy


def make_session() -> requests.Session:
    """A ``requests.Session`` for :func:`fetch`: guarded adapters, our User-Agent, no env proxies.

    Sessions are not thread-safe: make one per thread.
    """
    session = requests.Session()
    session.trust_env = False  # HTTP(S)_PROXY from the environment would hide the real peer
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept"] = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
    adapter = GuardedAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@dataclass
class Page:
    """A fetched response.

    :ivar url: the URL asked for; ``final_url`` the one that answered after redirects.
    :ivar content: the body after decompression, at most ``max_bytes``; ``truncated`` when cut.
    :ivar redirects: the URLs redirected to, in order.
    """

    url: str
    final_url: str
    status: int
    headers: CaseInsensitiveDict[str]
    content: bytes
    truncated: bool = False
    redirects: list[str] = field(default_factory=list)
    peer: str | None = None

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    @property
    def is_html(self) -> bool:
        return is_html_type(self.content_type)

    @property
    def text(self) -> str:
        """The body as text: BOM, then the ``charset`` header, then ``<meta charset>``, then UTF-8/cp1252."""
        return decode_html(self.content, self.content_type)


def check_url(url: str) -> str:
    """Return ``url`` if it is an absolute http(s) URL without credentials, else raise."""
    if not isinstance(url, str) or len(url) > 8192:
        raise UnsafeURLError("not a URL")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as e:
        raise UnsafeURLError("not a valid URL: %s" % e) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UnsafeURLError("only http and https URLs are fetched, not %r" % parts.scheme)
    if not parts.hostname:
        raise UnsafeURLError("URL has no host: %s" % url)
    if parts.username is not None or parts.password is not None:
        raise UnsafeURLError("URL carries credentials")
    return url.strip()


def fetch(
    url: str,
    *,
    method: str = "GET",
    data: Mapping[str, Any] | bytes | str | None = None,
    headers: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
    allow_private_networks: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    deadline: float = DEFAULT_DEADLINE,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    html_only: bool = False,
    resolver: Resolver | None = None,
    address_allowed: Callable[[str], bool] | None = None,
    before_redirect: Callable[[str], None] | None = None,
) -> Page:
    """Fetch ``url`` with the SSRF defences described in this module.

    :param method: ``GET``, ``HEAD`` or ``POST``; ``data`` is form data (dict) or a body.
    :param session: from :func:`make_session` (one per thread); a fresh one when ``None``.
    :param allow_private_networks: lift the address rule (tests, intranets). Off by default.
    :param max_bytes: decoded bytes read at most; the rest is not read (``truncated``).
    :param deadline: seconds for the whole fetch, redirects included.
    :param html_only: raise :class:`FetchError` for a response that is not HTML.
    :param resolver: ``resolver(host, port)`` giving ``(family, sockaddr)`` pairs (tests).
    :param address_allowed: ``address_allowed(ip)`` decides which addresses may be reached,
        instead of "public only" (an intranet's own range, one test server).
    :param before_redirect: called with each redirect's target before it is requested (a
        crawler's politeness towards that host); it may wait, or raise :class:`FetchError`.
    :raises UnsafeURLError: a refused scheme, address, proxy or redirect target.
    :raises FetchError: anything else (DNS, connection, deadline, too many redirects).
    """
    current = check_url(url)
    own_session = session is None
    if session is None:
        session = make_session()
    elif session.trust_env or any(session.proxies.values()):
        raise UnsafeURLError("the session must not use proxies (make it with make_session())")
    guard = Guard(
        allow_private_networks=allow_private_networks,
        resolver=resolver or system_resolver,
        address_allowed=address_allowed,
        deadline=time.monotonic() + deadline,
    )
    for prefix in ("http://", "https://"):
        adapter = session.get_adapter(prefix)
        if not isinstance(adapter, GuardedAdapter):
            raise UnsafeURLError("the session must use linkback's guarded adapter (make_session())")
        adapter.use_policy((allow_private_networks, resolver, address_allowed))
    token = _current.set(guard)
    watchdog = threading.Timer(max(0.0, deadline), guard.expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        return _fetch(session, guard, current, method.upper(), data, headers, max_bytes, max_redirects, html_only,
                      before_redirect)
    finally:
        watchdog.cancel()
        _current.reset(token)
        if own_session:
            session.close()


def _fetch(
    session: requests.Session,
    guard: Guard,
    url: str,
    method: str,
    data: Any,
    headers: Mapping[str, str] | None,
    max_bytes: int,
    max_redirects: int,
    html_only: bool,
    before_redirect: Callable[[str], None] | None = None,
) -> Page:
    first = url
    redirects: list[str] = []
    while True:
        # Literal addresses are refused before anything is sent, without a lookup.
        host = urlsplit(url).hostname or ""
        if _literal_ip(host.strip("[]")) is not None:
            guard.addresses(host, 0)
        response = _send(session, guard, url, method, data, headers)
        if response.status_code in _REDIRECTS and "Location" in response.headers:
            response.close()
            if len(redirects) >= max_redirects:
                raise FetchError("more than %d redirects from %s" % (max_redirects, first))
            # RFC 9110 allows a relative Location; resolve it against the current URL.
            url = check_url(urljoin(url, response.headers["Location"]))
            redirects.append(url)
            if before_redirect is not None:
                before_redirect(url)
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                method, data = ("HEAD" if method == "HEAD" else "GET"), None
            continue
        break
    try:
        if html_only and not is_html_type(response.headers.get("Content-Type", "")):
            raise FetchError(
                "not an HTML page: %s" % (response.headers.get("Content-Type") or "no content type")
            )
        content, truncated = _read(response, guard, max_bytes)
    finally:
        response.close()
    return Page(
        url=first,
        final_url=url,
        status=response.status_code,
        headers=CaseInsensitiveDict(response.headers),
        content=content,
        truncated=truncated,
        redirects=redirects,
        peer=guard.peer,
    )


def _send(session: requests.Session, guard: Guard, url: str, method: str, data: Any,
          headers: Mapping[str, str] | None) -> requests.Response:
    remaining = guard.remaining()
    if remaining <= 0 or guard.expired:
        raise FetchError("deadline exceeded fetching %s" % url)
    try:
        return session.request(
            method, url, data=data, headers=dict(headers or {}), stream=True,
            allow_redirects=False, timeout=(min(remaining, 5.0), remaining),
        )
    except UnsafeURLError:
        raise
    except requests.RequestException as e:
        if guard.expired:
            raise FetchError("deadline exceeded fetching %s" % url) from None
        raise FetchError("cannot fetch %s: %s" % (url, _reason(e))) from None


def _reason(e: BaseException) -> str:
    text = str(e)
    return text if len(text) < 300 else text[:300] + "…"


def _read(response: requests.Response, guard: Guard, max_bytes: int) -> tuple[bytes, bool]:
    """Read the decoded body up to ``max_bytes``; the deadline is checked between chunks."""
    chunks: list[bytes] = []
    size = 0
    truncated = False
    try:
        # urllib3 >= 2.6 bounds what one decoding read yields, so a gzip bomb only ever
        # inflates one chunk past what we asked for.
        for chunk in response.raw.stream(_CHUNK, decode_content=True):
            if guard.expired or guard.remaining() <= 0:
                raise FetchError("deadline exceeded reading %s" % response.url)
            if size + len(chunk) > max_bytes:
                chunks.append(chunk[: max_bytes - size])
                size = max_bytes
                truncated = True
                break
            chunks.append(chunk)
            size += len(chunk)
    except FetchError:
        raise
    except Exception as e:  # urllib3 ProtocolError, DecodeError, socket errors after shutdown
        if guard.expired:
            raise FetchError("deadline exceeded reading %s" % response.url) from None
        raise FetchError("cannot read %s: %s" % (response.url, _reason(e))) from None
    if guard.expired:
        raise FetchError("deadline exceeded reading %s" % response.url)
    return b"".join(chunks), truncated
