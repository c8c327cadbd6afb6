"""What every notification receiver does, whatever the protocol.

A Webmention, a pingback and a trackback all come down to "``source`` says it links to
``target``". :class:`Receiver` checks that claim as far as it can without fetching the
source (never inside the request: the crawler verifies it later), applies the blacklist
and the rate limits, and records a ``pending`` linkback whose crawl job is due now. Each
protocol module turns the :class:`Outcome` into its own kind of answer.
"""

from __future__ import annotations

import html
import io
import ipaddress
import logging
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote_to_bytes, urlsplit

from werkzeug.http import parse_options_header
from werkzeug.wsgi import get_input_stream

from .. import urls
from ..errors import LinkbackError
from ..fetch import is_public_address, parse_ipv4_loose
from ..filters import HitFilter
from .limits import Limits, ReceiverLimits

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from ..middleware import LinkbackMiddleware

logger = logging.getLogger(__name__)

#: Longest source or target URL accepted in a notification.
MAX_URL = 2048
#: Longest request body read by the Webmention and Trackback receivers, in bytes.
MAX_FORM_BODY = 32 * 1024
#: Most form fields parsed from one body.
MAX_FORM_FIELDS = 20
#: Longest sender-claimed title, excerpt and blog name kept (Trackback), in characters.
MAX_TITLE = 300
MAX_EXCERPT = 1000
MAX_BLOG_NAME = 200
#: Seconds within which a repeated notification of the same pair reuses the last check.
RECHECK_AFTER = 60.0
#: Seconds between reloads of the blacklist kept in the database.
BLACKLIST_RELOAD = 30.0

_RAW_BYTE = re.compile(rb"[\x80-\xff]")
_TAG = re.compile(r"<[^>]{0,2000}>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACE = re.compile(r"\s+")


class BadRequest(Exception):
    """A request the receiver refuses before looking at what it says."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Outcome:
    """What became of a notification.

    :ivar reason: ``accepted`` or why not: ``invalid-source``, ``invalid-target``,
        ``same-url``, ``not-our-site``, ``no-such-target``, ``blacklisted``, ``blocked``,
        ``rate-limited``, ``already-registered``, ``source-missing``, ``no-link``,
        ``upstream-error`` or ``unavailable``.
    :ivar token: the Webmention status token when accepted.
    """

    reason: str
    message: str
    token: str | None = None
    retry_after: int | None = None
    linkback_id: int | None = None

    @property
    def accepted(self) -> bool:
        return self.reason == "accepted"


def clean_text(value: str | None, limit: int) -> str | None:
    """Sender-supplied text as plain text: tags and control characters removed, entities
    decoded, whitespace collapsed, and cut to ``limit`` characters — before anything
    escapes it, so an entity is never cut in half.

    >>> clean_text("<b>Hello</b> &amp;  world", 8)
    'Hello &…'
    """
    if not value:
        return None
    text = _TAG.sub(" ", value[: limit * 8])
    text = html.unescape(text)
    text = _SPACE.sub(" ", _CONTROL.sub("", text)).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or None


def read_form(environ: WSGIEnvironment, *, limit: int = MAX_FORM_BODY) -> dict[str, list[str]]:
    """Read an ``application/x-www-form-urlencoded`` body, capped in size and field count.

    The ``charset`` parameter of the content type is honoured (TrackBack senders use it);
    UTF-8 otherwise. Undecodable bytes become U+FFFD rather than errors.

    :raises BadRequest: wrong content type (400), too large (413) or malformed (400).
    """
    mimetype, options = parse_options_header(environ.get("CONTENT_TYPE", ""))
    if not mimetype and environ.get("CONTENT_LENGTH", "") in ("", "0"):
        return {}  # no body at all: every field is missing
    if mimetype != "application/x-www-form-urlencoded":
        raise BadRequest("the body must be application/x-www-form-urlencoded")
    body = read_body(environ, limit=limit)
    charset = options.get("charset", "utf-8")
    try:
        "".encode(charset)
    except LookupError:
        charset = "utf-8"
    # Senders that do not percent-encode non-ASCII bytes exist; encode them so that the
    # charset decides what they mean, as for the escaped ones.
    text = _RAW_BYTE.sub(lambda m: b"%%%02X" % m.group()[0], body).decode("ascii")
    try:
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            max_num_fields=MAX_FORM_FIELDS,
            encoding=charset,
            errors="replace",
        )
    except ValueError:
        raise BadRequest("too many form fields") from None
    form: dict[str, list[str]] = {}
    for key, value in pairs:
        form.setdefault(key, []).append(value)
    return form


def read_body(environ: WSGIEnvironment, *, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes; :class:`BadRequest` (413) past that.

    A declared ``Content-Length`` over the limit is refused without reading anything.
    """
    length = environ.get("CONTENT_LENGTH") or ""
    if length:
        try:
            declared = int(length)
        except ValueError:
            raise BadRequest("bad Content-Length") from None
        if declared > limit:
            raise BadRequest("request body larger than %d bytes" % limit, 413)
    stream = get_input_stream(environ, safe_fallback=True)
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise BadRequest("request body larger than %d bytes" % limit, 413)
    return data


def single(form: dict[str, list[str]], name: str) -> str | None:
    """The one value of a form field; :class:`BadRequest` when it is given twice."""
    values = form.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest("give %s only once" % name)
    return values[0]


class Receiver:
    """Validation, limits and storage shared by the three receivers of one middleware.

    :param middleware: the :class:`~linkback.LinkbackMiddleware` whose sites and store
        are used; its wrapped application answers whether a target page exists.
    :param limits: rate limits (default :class:`~linkback.protocols.limits.Limits`).
    :param check_targets: ask the wrapped application whether the target page exists
        (a ``GET`` inside this process, never over the network); 404 and 410 are refused.
    :param clock: a monotonic clock for the rate limits.
    """

    def __init__(
        self,
        middleware: LinkbackMiddleware,
        *,
        limits: Limits | None = None,
        check_targets: bool = True,
        recheck_after: float = RECHECK_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.middleware = middleware
        self.options = middleware.options
        self.limits = ReceiverLimits(limits, clock=clock)
        self.check_targets = check_targets
        self.recheck_after = recheck_after
        self._filter = HitFilter(self.options)
        self._blacklist_loaded = float("-inf")

    # --- checks -------------------------------------------------------------------------------

    def allow_client(self, environ: WSGIEnvironment) -> Outcome | None:
        """``None`` when the client may go on; a ``rate-limited`` outcome otherwise."""
        address = environ.get("REMOTE_ADDR") or "-"
        if self.limits.allow_client(address):
            return None
        return Outcome(
            "rate-limited",
            "too many requests from your address",
            retry_after=self.limits.client.retry_after(address),
        )

    def normalize(self, url: Any) -> str | None:
        """A notification URL in the form the store keeps, or ``None`` if it is not one."""
        if not isinstance(url, str) or not url.strip() or len(url) > MAX_URL:
            return None
        return urls.normalize_url(
            url.strip(), drop_params=self.options.drop_params, keep_params=self.options.keep_params
        )

    def site_of(self, target: str, environ: WSGIEnvironment) -> str | None:
        """The configured site ``target`` belongs to; ``None`` when it is not one of ours.

        Without configured sites only the host this request was sent to is ours.
        """
        host = urls.host_of(target)
        if self.middleware.filter.sites:  # configured, or added in the manager
            return self.middleware.filter.site_for(host)
        own = urls.normalize_host(environ.get("HTTP_HOST") or environ.get("SERVER_NAME", ""))
        return host if own is not None and host == own else None

    def blacklisted(self, source: str) -> bool:
        now = time.monotonic()
        if now - self._blacklist_loaded > BLACKLIST_RELOAD:
            self._blacklist_loaded = now
            try:
                self._filter.set_extra_patterns(
                    [row["pattern"] for row in self.middleware.store.blacklist()]
                )
            except LinkbackError as e:
                logger.warning("linkback: cannot read the blacklist: %s", e)
        return bool(self._filter.patterns) and self._filter.patterns.match(source)

    def forbidden_address(self, url: str) -> bool:
        """True for a URL whose host is a literal loopback, private or reserved address.

        Names are resolved and checked by the crawler's fetch; literals are refused here
        already, so that they are not even stored.
        """
        if self.options.allow_private_networks:
            return False
        host = urls.host_of(url).strip("[]")
        if host == "localhost" or host.endswith(".localhost"):
            return True
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None
        if ":" in host:
            try:
                ip = ipaddress.IPv6Address(host)
            except ValueError:
                return False
        else:
            # "2130706433" and "0x7f.1" are 127.0.0.1 to the resolver: read them as it does.
            ip = parse_ipv4_loose(host)
        return ip is not None and not is_public_address(str(ip))

    def target_status(self, target: str, environ: WSGIEnvironment) -> int | None:
        """The HTTP status our own application gives ``target``; ``None`` if unknown.

        The wrapped application is called directly, in this process: nothing goes over the
        network and the middleware's own counting is not involved.
        """
        parts = urlsplit(target)
        path = unquote_to_bytes(parts.path or "/").decode("latin-1")
        script = environ.get("SCRIPT_NAME", "")
        if script and (path == script or path.startswith(script.rstrip("/") + "/")):
            path = path[len(script.rstrip("/")) :] or "/"
        else:
            script = ""
        probe: dict[str, Any] = {
            "REQUEST_METHOD": "GET",
            "SCRIPT_NAME": script,
            "PATH_INFO": path,
            "QUERY_STRING": parts.query,
            "SERVER_NAME": environ.get("SERVER_NAME", parts.hostname or "localhost"),
            "SERVER_PORT": environ.get("SERVER_PORT", "443" if parts.scheme == "https" else "80"),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": parts.netloc,
            "HTTP_ACCEPT": "text/html",
            "HTTP_USER_AGENT": "linkback (target check)",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": parts.scheme,
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": environ.get("wsgi.errors", sys.stderr),
            "wsgi.multithread": environ.get("wsgi.multithread", True),
            "wsgi.multiprocess": environ.get("wsgi.multiprocess", False),
            "wsgi.run_once": False,
            "linkback.target_check": True,
        }
        seen: list[str] = []

        def start_response(
            status: str, headers: Any, exc_info: Any = None
        ) -> Callable[[bytes], None]:
            seen.append(status)
            return lambda data: None

        try:
            result = self.middleware.app(probe, start_response)  # type: ignore[arg-type]
            try:
                if not seen:  # a generator calls start_response on its first item
                    for _chunk in result:
                        break
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            return int(seen[0].split(None, 1)[0]) if seen else None
        except Exception:
            logger.exception(
                "linkback: the application failed answering a target check for %s", target
            )
            return None

    # --- receiving ----------------------------------------------------------------------------

    def receive(
        self,
        kind: str,
        source_value: Any,
        target_value: Any,
        environ: WSGIEnvironment,
        *,
        title: str | None = None,
        excerpt: str | None = None,
        blog_name: str | None = None,
        strict: bool = False,
    ) -> Outcome:
        """Check a notification and record it as a pending linkback.

        :param kind: ``webmention``, ``pingback`` or ``trackback``.
        :param strict: answer from what is already known instead of re-verifying: a pair
            already registered, or checked within the last ``recheck_after`` seconds and
            found missing or not linking, is refused with that reason (Pingback's faults).
        """
        source = self.normalize(source_value)
        if source is None:
            return Outcome(
                "invalid-source", "source must be an http(s) URL of at most %d characters" % MAX_URL
            )
        target = self.normalize(target_value)
        if target is None:
            return Outcome(
                "invalid-target", "target must be an http(s) URL of at most %d characters" % MAX_URL
            )
        if source == target or (
            isinstance(source_value, str) and source_value.strip() == str(target_value).strip()
        ):
            return Outcome("same-url", "source and target must be different pages")
        site = self.site_of(target, environ)
        if site is None:
            return Outcome("not-our-site", "target is not a page of this site")
        if self.forbidden_address(source):
            return Outcome("invalid-source", "source is not on a public address")
        if self.blacklisted(source):
            return Outcome("blacklisted", "source is not accepted here")
        domain = urls.registrable_domain(urls.host_of(source))
        if not self.limits.allow_notification(domain):
            return Outcome(
                "rate-limited",
                "too many notifications from %s; try again later" % domain,
                retry_after=max(
                    self.limits.source.retry_after(domain), self.limits.total.retry_after("*")
                ),
            )
        if self.check_targets:
            status = self.target_status(target, environ)
            if status in (404, 410):
                return Outcome("no-such-target", "target page does not exist")
        store = self.middleware.store
        try:
            known = store.notified_linkback(source, target)
            if known is not None and known["status"] == "blocked":
                return Outcome("blocked", "source is not accepted here", linkback_id=known["id"])
            if strict and known is not None:
                refusal = self._known_refusal(known)
                if refusal is not None:
                    return refusal
            result = store.notify_linkback(
                source,
                target,
                site,
                kind,
                title=clean_text(title, MAX_TITLE),
                excerpt=clean_text(excerpt, MAX_EXCERPT),
                blog_name=clean_text(blog_name, MAX_BLOG_NAME),
                recheck_after=self.recheck_after,
            )
        except LinkbackError as e:
            logger.warning("linkback: cannot record a %s: %s", kind, e)
            return Outcome(
                "unavailable", "cannot record the notification now; try again later", retry_after=60
            )
        logger.info("linkback: %s from %s to %s accepted", kind, source, target)
        return Outcome(
            "accepted",
            "accepted; verification is pending",
            token=result["token"],
            linkback_id=result["id"],
        )

    def _known_refusal(self, known: dict[str, Any]) -> Outcome | None:
        status = known["status"]
        if known["kind"] != "referrer" and status in ("pending", "verified", "held", "hidden"):
            return Outcome(
                "already-registered", "this link is already registered", linkback_id=known["id"]
            )
        checked = known["checked_at"]
        if checked is None or time.time() - checked > self.recheck_after:
            return None
        refusals = {
            "gone": ("source-missing", "source page does not exist"),
            "unverified": ("no-link", "source page does not link to target"),
            "error": ("upstream-error", "source page could not be fetched"),
        }
        if status in refusals:
            reason, message = refusals[status]
            return Outcome(reason, message, linkback_id=known["id"])
        return None
