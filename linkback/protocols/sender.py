"""Sending: notify every page a page of ours links to, as WordPress does on publish.

:func:`send_linkbacks` takes our page (fetched, or its HTML given), finds the outbound links
in its content (the ``h-entry``, ``<article>`` or main content, never the navigation),
discovers each target's endpoint (Webmention, else Pingback, else Trackback) and notifies
it. Every request goes through :func:`linkback.fetch.fetch`, with its SSRF defences.

With a store, results are kept per (source, target): a re-run sends only what changed, and
when a link disappears from our page its Webmention receiver is notified again so that it
re-verifies and deletes the mention (W3C Webmention, section 3.1.4, updates and deletes).

>>> results = send_linkbacks("https://example.com/post", store=store)    # doctest: +SKIP
>>> [(r.target, r.protocol, r.outcome) for r in results]                  # doctest: +SKIP
[('https://other.example/a', 'webmention', 'sent')]
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from .. import dom
from ..errors import FetchError, UnsafeURLError
from ..extract import base_url, parse_html
from ..fetch import fetch, make_session
from ..store import Store
from .discovery import Endpoints, discover
from .receiver import clean_text
from .xmlrpc import Fault, dump_call, parse_document, parse_response

logger = logging.getLogger(__name__)

#: Protocols tried, in order of preference.
PROTOCOLS = ("webmention", "pingback", "trackback")
#: Minimum seconds between two requests to one host while sending.
DEFAULT_HOST_DELAY = 1.0
#: Bytes read at most of a target page (endpoints are in the headers or near the top).
MAX_TARGET_BYTES = 500_000
#: Bytes read at most of an endpoint's answer.
MAX_ANSWER_BYTES = 32 * 1024
#: Most links notified from one page.
MAX_LINKS = 200
#: Length of the Trackback excerpt sent.
EXCERPT_LENGTH = 250
#: Longest endpoint or status URL kept from a remote server.
MAX_STORED_URL = 2048
#: Pingback's "already registered" fault: the receiver has the ping, which is success.
ALREADY_REGISTERED = 0x0030

#: Elements whose links are the page's frame, not its content.
_CHROME = frozenset({"nav", "header", "footer", "aside", "form", "menu"})


@dataclass
class SendResult:
    """The outcome of notifying one target.

    :ivar outcome: ``sent``; ``unchanged`` (sent before and our page is the same);
        ``no-endpoint`` (the target accepts no notification); ``removed`` (our page no
        longer links to it and its protocol cannot retract); or ``failed``.
    """

    target: str
    outcome: str
    protocol: str | None = None
    endpoint: str | None = None
    status: int | None = None
    detail: str = ""
    location: str | None = None
    linked: bool = True

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"


@dataclass
class Plan:
    """What :func:`prepare` found in our page: the links to notify and what to say."""

    source: str
    links: list[str]
    content_hash: str
    title: str | None = None
    excerpt: str | None = None
    blog_name: str | None = None
    previous: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def removed(self) -> list[str]:
        """Targets notified before that our page no longer links to."""
        current = set(self.links)
        # A failed retraction is tried again on the next run; other targets once only.
        return [
            t
            for t, row in self.previous.items()
            if t not in current
            and (row["linked"] or (row["outcome"] == "failed" and row["protocol"] == "webmention"))
        ]

    @property
    def targets(self) -> list[str]:
        return self.links + self.removed


def content_area(tree: Any) -> Any:
    """The element holding the page's own content.

    The first ``h-entry`` (its ``e-content`` when it has one), else ``<article>``, else
    ``<main>`` or ``role="main"``, else the body.
    """
    for el in tree.iter():
        if not isinstance(el.tag, str):
            continue
        if "h-entry" in dom.classes(el):
            for inner in el.iter():
                if isinstance(inner.tag, str) and "e-content" in dom.classes(inner):
                    return inner
            return el
    for tag in ("article", "main"):
        found = tree.find(".//%s" % tag)
        if found is not None:
            return found
    for el in tree.iter():
        if isinstance(el.tag, str) and el.get("role") == "main":
            return el
    body = tree.find(".//body")
    return body if body is not None else tree


def outbound_links(tree: Any, page_url: str) -> list[str]:
    """The http(s) URLs our page's content links to, in order, each once.

    Links inside navigation, headers, footers, asides and forms are left out, and so are
    links to the page's own origin (scheme, host and port).
    """
    area = content_area(tree)
    base = base_url(tree, page_url)
    own = _origin(page_url)
    seen: dict[str, None] = {}
    for el in area.iter("a", "area"):
        if any(a.tag in _CHROME for a in _ancestors_within(el, area)):
            continue
        url = dom.resolve(base, el.get("href"))
        if not url:
            continue
        url = url.split("#", 1)[0]
        if _origin(url) == own or url in seen:
            continue
        seen[url] = None
        if len(seen) >= MAX_LINKS:
            break
    return list(seen)


def _ancestors_within(el: Any, top: Any) -> Iterable[Any]:
    parent = el.getparent()
    while parent is not None and parent is not top:
        yield parent
        parent = parent.getparent()


def _origin(url: str) -> tuple[str, str]:
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), parts.netloc.lower()
    except ValueError:
        return "", ""


def prepare(
    source: str,
    *,
    html: str | bytes | None = None,
    store: Store | None = None,
    session: requests.Session | None = None,
    allow_private_networks: bool = False,
) -> Plan:
    """Read our page (``html``, or fetched from ``source``) and plan what to send.

    :raises FetchError: our page could not be fetched.
    """
    page_url = source
    if html is None:
        page = fetch(
            source, session=session, allow_private_networks=allow_private_networks, html_only=True
        )
        if page.status >= 400:
            raise FetchError("%s answered %d" % (source, page.status))
        html, page_url = page.text, page.final_url
    tree = parse_html(html)
    if tree is None:
        return Plan(
            source,
            [],
            hashlib.sha256(b"").hexdigest(),
            previous=store.sends(source) if store else {},
        )
    area = content_area(tree)
    text = dom.visible_text(area)
    links = outbound_links(tree, page_url)
    digest = hashlib.sha256(("\n".join(links) + "\n" + text).encode("utf-8")).hexdigest()
    title_el = tree.find(".//title")
    return Plan(
        source=source,
        links=links,
        content_hash=digest,
        title=clean_text(title_el.text if title_el is not None else None, 300),
        excerpt=clean_text(text, EXCERPT_LENGTH),
        blog_name=clean_text(urlsplit(page_url).hostname, 200),
        previous=store.sends(source) if store else {},
    )


class Sender:
    """Notifies targets one by one, spacing requests to each host.

    :param session: a session from :func:`linkback.fetch.make_session` (made when ``None``).
    :param allow_private_networks: also notify loopback and private addresses (tests, intranets).
    :param protocols: the protocols to use, in order of preference.
    :param host_delay: minimum seconds between two requests to one host.
    """

    def __init__(
        self,
        *,
        session: requests.Session | None = None,
        allow_private_networks: bool = False,
        protocols: Iterable[str] = PROTOCOLS,
        host_delay: float = DEFAULT_HOST_DELAY,
    ) -> None:
        self.session = session or make_session()
        self.allow_private_networks = allow_private_networks
        self.protocols = tuple(p for p in PROTOCOLS if p in set(protocols))
        self.host_delay = host_delay
        self._last: dict[str, float] = {}

    def _fetch(self, url: str, **kwargs: Any) -> Any:
        host = urlsplit(url).hostname or ""
        wait = self._last.get(host, float("-inf")) + self.host_delay - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        try:
            return fetch(
                url,
                session=self.session,
                allow_private_networks=self.allow_private_networks,
                **kwargs,
            )
        finally:
            self._last[host] = time.monotonic()

    def discover(self, target: str) -> tuple[int, Endpoints]:
        """Fetch ``target`` (following redirects) and read the endpoints it advertises.

        :return: the final response's HTTP status and the endpoints.
        :raises FetchError: the page could not be fetched.
        """
        page = self._fetch(target, max_bytes=MAX_TARGET_BYTES)
        if page.status >= 400:
            return page.status, Endpoints()
        return page.status, discover(
            page.final_url, page.headers, page.text if page.is_html else None, requested_url=target
        )

    def notify(
        self, plan: Plan, target: str, *, linked: bool = True, only: Iterable[str] | None = None
    ) -> SendResult:
        """Discover ``target``'s endpoint and notify it that ``plan.source`` links to it."""
        protocols = [p for p in self.protocols if only is None or p in set(only)]
        try:
            status, endpoints = self.discover(target)
        except UnsafeURLError as e:
            return SendResult(target, "failed", detail="refused: %s" % e, linked=linked)
        except FetchError as e:
            return SendResult(target, "failed", detail=str(e), linked=linked)
        if status >= 400:
            return SendResult(
                target, "failed", status=status, detail="target answered %d" % status, linked=linked
            )
        for protocol in protocols:
            endpoint = getattr(endpoints, protocol)
            if endpoint:
                break
        else:
            return SendResult(target, "no-endpoint", linked=linked)
        try:
            result = getattr(self, "_send_" + protocol)(plan, target, endpoint)
        except UnsafeURLError as e:
            result = SendResult(target, "failed", detail="endpoint refused: %s" % e)
        except FetchError as e:
            result = SendResult(target, "failed", detail=str(e))
        result.protocol, result.endpoint, result.linked = protocol, endpoint, linked
        return result

    def _send_webmention(self, plan: Plan, target: str, endpoint: str) -> SendResult:
        # The endpoint is used as discovered: its query string stays (webmention.rocks 21)
        # and source and target travel in the body only.
        answer = self._fetch(
            endpoint,
            method="POST",
            data={"source": plan.source, "target": target},
            max_bytes=MAX_ANSWER_BYTES,
            max_redirects=0,
        )
        if 200 <= answer.status < 300:
            return SendResult(
                target, "sent", status=answer.status, location=answer.headers.get("Location")
            )
        return SendResult(
            target,
            "failed",
            status=answer.status,
            detail="endpoint answered %d: %s" % (answer.status, _snippet(answer.content)),
        )

    def _post(self, endpoint: str, data: Any, content_type: str) -> Any:
        """POST a notification; endpoints' redirects are not followed (a POST must not be replayed)."""
        return self._fetch(
            endpoint,
            method="POST",
            data=data,
            max_bytes=MAX_ANSWER_BYTES,
            headers={"Content-Type": content_type},
            max_redirects=0,
        )

    def _send_pingback(self, plan: Plan, target: str, endpoint: str) -> SendResult:
        body = dump_call("pingback.ping", [plan.source, target])
        answer = self._post(endpoint, body, "text/xml; charset=utf-8")
        if answer.status != 200:
            return _not_ok(target, answer.status)
        ok, detail = read_pingback_answer(answer.content)
        return SendResult(target, "sent" if ok else "failed", status=200, detail=detail)

    def _send_trackback(self, plan: Plan, target: str, endpoint: str) -> SendResult:
        data = {
            "url": plan.source,
            "title": plan.title or plan.source,
            "excerpt": plan.excerpt or "",
            "blog_name": plan.blog_name or "",
        }
        answer = self._post(endpoint, data, "application/x-www-form-urlencoded; charset=utf-8")
        if answer.status != 200:
            return _not_ok(target, answer.status)
        try:
            root = parse_document(answer.content, max_depth=4, max_elements=20)
        except Fault as fault:
            return SendResult(
                target, "failed", status=200, detail="unreadable answer: %s" % fault.message
            )
        error = (root.findtext("error") or "").strip()
        if root.tag == "response" and error == "0":
            return SendResult(target, "sent", status=200)
        return SendResult(
            target,
            "failed",
            status=200,
            detail="trackback error: %s" % (root.findtext("message") or error)[:200],
        )


def read_pingback_answer(body: bytes) -> tuple[bool, str]:
    """Whether a ``pingback.ping`` answer means success, and what it said.

    Pingback 1.0: success is "a single string"; an empty string or another type is not
    (mention-client-php reads them the same way). The fault "already registered" means
    the receiver has the ping, which is what we wanted.
    """
    try:
        value = parse_response(body)
    except Fault as fault:
        if fault.code == ALREADY_REGISTERED:
            return True, "already registered"
        return False, "fault %d: %s" % (fault.code, fault.message[:200])
    if isinstance(value, str) and value.strip():
        return True, value.strip()[:200]
    return False, "not a pingback answer: %r" % (value,)


def _cap(url: str | None) -> str | None:
    """A URL a remote server chose, cut to a length the database keeps."""
    return url[:MAX_STORED_URL] if url else None


def _snippet(content: bytes) -> str:
    return " ".join(content[:200].decode("utf-8", "replace").split())


def _unchanged(plan: Plan, target: str) -> bool:
    previous = plan.previous.get(target)
    if previous is None or not previous["linked"]:
        return False
    if previous["outcome"] == "sent" and previous["protocol"] in ("pingback", "trackback"):
        return True  # neither protocol has updates: one ping per link, a second is refused
    return (
        previous["outcome"] in ("sent", "no-endpoint")
        and previous["content_hash"] == plan.content_hash
    )


def send_planned(
    plan: Plan,
    sender: Sender,
    *,
    store: Store | None = None,
    force: bool = False,
    progress: Callable[[SendResult], None] | None = None,
) -> list[SendResult]:
    """Carry out a :class:`Plan`: notify what changed and record every result."""
    results = []
    removed = set(plan.removed)
    for target in plan.targets:
        previous = plan.previous.get(target)
        if target in removed and previous is not None:
            if previous["protocol"] == "webmention":
                # The receiver fetches our page again, finds the link gone and deletes it.
                result = sender.notify(plan, target, linked=False, only=("webmention",))
            else:
                result = SendResult(
                    target,
                    "removed",
                    protocol=previous["protocol"],
                    endpoint=previous["endpoint"],
                    linked=False,
                )
        elif not force and _unchanged(plan, target):
            assert previous is not None
            result = SendResult(
                target,
                "unchanged",
                protocol=previous["protocol"],
                endpoint=previous["endpoint"],
                status=previous["http_status"],
            )
        else:
            result = sender.notify(plan, target)
        if store is not None and result.outcome != "unchanged":
            store.record_send(
                plan.source,
                target,
                outcome=previous["outcome"]
                if result.outcome == "removed" and previous
                else result.outcome,
                protocol=result.protocol,
                endpoint=_cap(result.endpoint),
                http_status=result.status,
                detail=result.detail[:500] or None,
                location=_cap(result.location),
                content_hash=plan.content_hash,
                linked=result.linked,
            )
        logger.info(
            "linkback send %s → %s: %s %s", plan.source, target, result.outcome, result.detail
        )
        results.append(result)
        if progress is not None:
            progress(result)
    return results


def send_linkbacks(
    source: str,
    *,
    html: str | bytes | None = None,
    store: Store | None = None,
    session: requests.Session | None = None,
    allow_private_networks: bool = False,
    protocols: Iterable[str] = PROTOCOLS,
    host_delay: float = DEFAULT_HOST_DELAY,
    force: bool = False,
    progress: Callable[[SendResult], None] | None = None,
) -> list[SendResult]:
    """Notify every page that our page ``source`` links to.

    :param source: our page's URL, sent as the ``source`` of each notification.
    :param html: the page's HTML; fetched from ``source`` when ``None``.
    :param store: where results are kept per (source, target); a re-run then sends only
        what changed and retracts removed links. Without one, everything is sent.
    :param force: send again even what is unchanged.
    :param protocols: the protocols to use, in order of preference.
    :param host_delay: minimum seconds between two requests to one host.
    :raises FetchError: our own page could not be fetched.
    """
    session = session or make_session()
    plan = prepare(
        source,
        html=html,
        store=store,
        session=session,
        allow_private_networks=allow_private_networks,
    )
    sender = Sender(
        session=session,
        allow_private_networks=allow_private_networks,
        protocols=protocols,
        host_delay=host_delay,
    )
    return send_planned(plan, sender, store=store, force=force, progress=progress)


def _not_ok(target: str, status: int) -> SendResult:
    return SendResult(target, "failed", status=status, detail="endpoint answered %d" % status)
