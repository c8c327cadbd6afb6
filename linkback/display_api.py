"""Display endpoints under the middleware's prefix, for pages the application does not serve.

* ``GET {prefix}api/linkbacks?url=…`` — the verified linkbacks of one page as JSON, with the
  rendered block in ``html``. Other origins may read it only when they are configured sites
  (CORS), since the block belongs on those pages alone.
* ``GET {prefix}linkbacks.js`` — the embed script: loads the block asynchronously and sends
  the beacon.
* ``GET {prefix}linkbacks.css`` — the default stylesheet.
* ``POST {prefix}beacon`` — ``{"url": location.href, "referrer": document.referrer}``: a
  visit to a static page, queued for the writer exactly as the middleware queues a request,
  so the same filters and fraud compensation apply.

The beacon is the one place where a client names our page instead of requesting it. It is
accepted only for configured sites, only from those sites' own origins (a browser on another
site cannot be made to send visits on its readers' behalf), with small bodies and a rate
cap per client.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from . import counting, urls
from .errors import LinkbackError
from .render import block_html

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .middleware import LinkbackMiddleware

logger = logging.getLogger(__name__)

#: Largest beacon body accepted, in bytes (two URLs and a little JSON).
MAX_BEACON_BYTES = 4096
#: Beacons accepted per client per minute; one reader opens a few pages a minute at most.
BEACON_RATE = 30
#: Clients whose beacon rate is tracked at once; the table is emptied beyond this.
BEACON_CLIENTS = 10_000
#: Seconds browsers and proxies may keep an API answer.
API_MAX_AGE = 60
#: Seconds browsers may keep the script and the stylesheet.
ASSET_MAX_AGE = 3600


def _asset(name: str) -> tuple[bytes, str]:
    body = resources.files("linkback").joinpath("static", name).read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:20]


class RateLimit:
    """A token bucket per client: ``rate`` events a minute, bursts up to ``rate``."""

    def __init__(self, rate: int, clients: int = BEACON_CLIENTS) -> None:
        self.rate = rate
        self.clients = clients
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.rate), now))
            tokens = min(float(self.rate), tokens + (now - last) * self.rate / 60.0)
            if tokens < 1.0:
                self._buckets[client] = (tokens, now)
                return False
            if len(self._buckets) >= self.clients and client not in self._buckets:
                self._buckets.clear()
            self._buckets[client] = (tokens - 1.0, now)
            return True


class DisplayAPI:
    """The WSGI application behind the display endpoints of one middleware."""

    def __init__(self, middleware: LinkbackMiddleware) -> None:
        self.middleware = middleware
        prefix = middleware.prefix
        self.url_map = Map([
            Rule(prefix + "api/linkbacks", endpoint="linkbacks", methods=["GET", "OPTIONS"]),
            Rule(prefix + "linkbacks.js", endpoint="script", methods=["GET"]),
            Rule(prefix + "linkbacks.css", endpoint="stylesheet", methods=["GET"]),
            Rule(prefix + "beacon", endpoint="beacon", methods=["POST", "OPTIONS"]),
        ])
        self.assets = {
            "script": (*_asset("linkbacks.js"), "text/javascript; charset=utf-8"),
            "stylesheet": (*_asset("linkbacks.css"), "text/css; charset=utf-8"),
        }
        self.rate = RateLimit(BEACON_RATE)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        request = Request(environ)
        request.max_content_length = MAX_BEACON_BYTES
        try:
            endpoint, _ = self.url_map.bind_to_environ(environ).match()
            response = getattr(self, "on_" + endpoint)(request)
        except HTTPException as e:
            response = e.get_response(environ)
        return response(environ, start_response)

    # --- rules --------------------------------------------------------------------------------

    def _site_of_url(self, url: str) -> str | None:
        """The configured site an http(s) URL belongs to; ``None`` when it is not ours."""
        if not self.middleware.filter.sites:
            return None
        try:
            parts = urlsplit(url)
        except ValueError:
            return None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        if parts.username is not None or parts.password is not None:
            return None
        return self.middleware.filter.site_for(parts.netloc.rpartition("@")[2])

    def allowed_origin(self, request: Request) -> str | None:
        """The ``Origin`` to allow in CORS headers: one of the configured sites, else ``None``."""
        origin = request.headers.get("Origin")
        if not origin or origin == "null":
            return None
        normalized = urls.normalize_url(origin)
        if normalized is None or not normalized.endswith("/") or normalized.count("/") != 3:
            return None
        if self._site_of_url(normalized) is None:
            return None
        # Echo the origin as we normalised it, never as sent.
        return normalized[:-1]

    def _cors(self, response: Response, origin: str | None, methods: str) -> Response:
        response.vary.add("Origin")
        if origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Methods"] = methods
            response.headers["Access-Control-Max-Age"] = "86400"
        return response

    @staticmethod
    def _json(data: Any, status: int = 200) -> Response:
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        response = Response(body, status=status, content_type="application/json; charset=utf-8")
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    # --- endpoints ----------------------------------------------------------------------------

    def on_linkbacks(self, request: Request) -> Response:
        origin = self.allowed_origin(request)
        if request.method == "OPTIONS":
            return self._cors(Response(status=204), origin, "GET")
        url = request.args.get("url", "")
        renderer = self.middleware.renderer
        normalized = renderer.normalize(url) if url else None
        if normalized is None:
            response = self._json({"error": "give the page's http(s) URL as ?url="}, 400)
        elif self.middleware.filter.sites and self._site_of_url(normalized) is None:
            response = self._json({"error": "not a page of this site"}, 404)
        else:
            try:
                body = renderer.cached(("api", normalized), lambda: self._listing_body(normalized))
            except (LinkbackError, sqlite3.Error) as e:
                logger.warning("linkback: cannot read linkbacks: %s", e)
                return self._cors(self._json({"error": "linkbacks are unavailable"}, 503), origin, "GET")
            response = Response(body, content_type="application/json; charset=utf-8")
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.cache_control.public = True
            response.cache_control.max_age = API_MAX_AGE
        return self._cors(response, origin, "GET")

    def _listing_body(self, url: str) -> bytes:
        listing = self.middleware.renderer.listing(url)
        options = listing.options
        discussions = listing.discussions if options.discussions else []
        # No stylesheet link in the HTML: a relative href would resolve against the embedding
        # page's origin; the script links the stylesheet from where it was itself loaded.
        html = block_html(listing.entries, discussions, options)
        data = {
            "url": listing.url,
            "count": len(listing.entries),
            "linkbacks": listing.entries,
            "discussions": listing.discussions,
            "html": str(html),
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def on_script(self, request: Request) -> Response:
        return self._asset(request, "script")

    def on_stylesheet(self, request: Request) -> Response:
        return self._asset(request, "stylesheet")

    def _asset(self, request: Request, name: str) -> Response:
        body, etag, content_type = self.assets[name]
        response = Response(body, content_type=content_type)
        response.set_etag(etag)
        response.cache_control.public = True
        response.cache_control.max_age = ASSET_MAX_AGE
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response.make_conditional(request)

    def on_beacon(self, request: Request) -> Response:
        origin_header = request.headers.get("Origin")
        origin = self.allowed_origin(request)
        if request.method == "OPTIONS":
            return self._cors(Response(status=204), origin, "POST")
        if not self.middleware.filter.sites:
            return self._json({"error": "the beacon counts only configured sites"}, 403)
        if origin_header is not None and origin is None:
            # A page on another site asking its readers' browsers to report visits here.
            return self._cors(self._json({"error": "origin not allowed"}, 403), None, "POST")
        data = _beacon_data(request.get_data(cache=False))
        if data is None:
            return self._cors(self._json({"error": "expected JSON with url and referrer"}, 400), origin, "POST")
        page, referrer = data
        site = self._site_of_url(page)
        if site is None:
            return self._cors(self._json({"error": "not a page of this site"}, 403), origin, "POST")
        if origin is not None and self._site_of_url(origin) != site:
            return self._cors(self._json({"error": "origin not allowed"}, 403), origin, "POST")
        address = request.remote_addr or ""
        if not self.rate.allow(counting.client_prefix(address)):
            return self._cors(self._json({"error": "too many beacons"}, 429), origin, "POST")
        if referrer and not self.middleware._closed:
            parts = urlsplit(page)
            # The same raw tuple the middleware queues for a request of that page; the path
            # is quoted to ASCII since the writer reads it as WSGI's latin-1 PATH_INFO.
            self.middleware.writer.put((
                time.time(), referrer, parts.netloc.rpartition("@")[2], "",
                quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~"), parts.query, parts.scheme,
                address, request.headers.get("User-Agent", ""),
            ))
        return self._cors(Response(status=204), origin, "POST")


def _beacon_data(body: bytes) -> tuple[str, str] | None:
    """(page URL, referrer) from a beacon body, or ``None`` when it is not one."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    page, referrer = data.get("url"), data.get("referrer", "")
    if not isinstance(page, str) or not isinstance(referrer, str):
        return None
    if len(page) > urls.MAX_URL_LENGTH or len(referrer) > urls.MAX_URL_LENGTH:
        return None
    return page, referrer


def make_app(middleware: LinkbackMiddleware) -> WSGIApplication:
    """The display endpoints of ``middleware`` (mounted by :mod:`linkback.web`)."""
    return DisplayAPI(middleware)
