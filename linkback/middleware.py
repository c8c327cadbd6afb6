"""The WSGI middleware: records which external pages send visitors to which of our pages.

Wrap any WSGI application::

    from linkback import LinkbackMiddleware
    app = LinkbackMiddleware(app, database="linkback.db", sites=["example.com"])

On a request, the middleware reads ``HTTP_REFERER`` straight from ``environ``, watches the
response status and content type through a wrapped ``start_response``, and appends a tuple
to an in-memory queue. Everything else (URL parsing, bot and blacklist checks, visitor
keys, SQL) happens in the writer thread. Nothing on the request path does I/O or raises
into the application.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from . import urls
from .config import Options
from .errors import ConfigError
from .filters import HitFilter
from .store import Store
from .writer import _INHERITED, HitWriter

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger(__name__)


class LinkbackMiddleware:
    """Wrap a WSGI application to capture, verify and serve its linkbacks.

    :param app: the WSGI application.
    :param database: path of the SQLite file; created when missing.
    :param options: ``sites``, ``blacklist``, ``blacklist_files``, ``crawl``,
        ``allow_private_networks`` and the others listed in the README; validated here,
        :class:`~linkback.errors.ConfigError` names the first bad one.
    """

    def __init__(self, app: WSGIApplication, database: str = "linkback.db", **options: Any) -> None:
        self.app = app
        if not isinstance(database, (str, os.PathLike)) or not os.fspath(database):
            raise ConfigError("database: expected a file path, got %r" % (database,))
        if os.fspath(database) == ":memory:":
            # Each thread has its own connection, and each would see its own empty database.
            raise ConfigError("database: ':memory:' cannot be shared by threads; give a file path")
        self.database = os.fspath(database)
        self.options = Options.from_kwargs(**options)
        directory = os.path.dirname(os.path.abspath(self.database))
        if not os.path.isdir(directory):
            # Not an error: the site must keep serving. Hits are dropped (and counted) until
            # the directory exists.
            logger.warning("linkback: the directory of %s does not exist", self.database)
        if not self.options.sites:
            logger.warning(
                "linkback: no sites configured; hits are counted for any Host header a client"
                " sends. Pass sites=[...] to count only your own hosts."
            )
        self.prefix = self.options.prefix
        #: Advertise Webmention and Pingback endpoints in HTML responses' headers.
        self.advertise = bool(self.options.extra.get("protocols", True))
        self._advertised: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self.filter = HitFilter(self.options)
        self._advertised_for = self.filter.sites
        self.writer = HitWriter(
            self._open_store,
            self.filter,
            queue_size=self.options.queue_size,
            batch_size=self.options.batch_size,
            flush_interval=self.options.flush_interval,
            on_store=self._first_store,
        )
        self.crawler: Any = None
        self._service: WSGIApplication | None = None
        self._started = False
        self._start_lock = threading.Lock()
        self._closed = False
        self._store: Store | None = None
        ref = weakref.ref(self)
        atexit.register(_close_at_exit, ref)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=lambda: _after_fork(ref))

    # --- the request path ---------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not self._started:
            self._start()
        path = environ.get("PATH_INFO", "")
        if path.startswith(self.prefix):
            return self._serve(environ, start_response)
        method = environ.get("REQUEST_METHOD")
        if method != "GET" and (method != "HEAD" or not self.advertise):
            return self.app(environ, start_response)
        # Only GETs count; a HEAD still learns our endpoints, as Webmention senders may ask so.
        referer = environ.get("HTTP_REFERER") if method == "GET" else None
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
        advertise = None
        if self.advertise:
            if self.filter.sites is not self._advertised_for:
                # Sites were added in the manager: hosts refused before may be ours now.
                self._advertised, self._advertised_for = {}, self.filter.sites
            scheme = environ.get("wsgi.url_scheme", "http")
            advertise = self._advertised.get((scheme, host))
            if advertise is None:
                advertise = self._advertisement(scheme, host)
        if referer:
            # Same-host navigation is most traffic; skip it without parsing the URL.
            rest = referer.partition("//")[2]
            if rest.startswith(host) and rest[len(host) : len(host) + 1] in ("", "/", "?", "#"):
                referer = None
        if not referer and not advertise:
            return self.app(environ, start_response)
        writer = self.writer

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            try:
                if status[:1] == "2" and not self._closed:
                    for name, value in headers:
                        if name.lower() == "content-type":
                            if value[:9].lower() == "text/html":
                                if advertise:
                                    headers = headers + advertise
                                if referer:
                                    writer.put((
                                        time.time(), referer, host, environ.get("SCRIPT_NAME", ""),
                                        path, environ.get("QUERY_STRING", ""),
                                        environ.get("wsgi.url_scheme", "http"),
                                        environ.get("REMOTE_ADDR", ""),
                                        environ.get("HTTP_USER_AGENT", ""),
                                    ))
                            break
            except Exception:  # never let counting break a response
                logger.exception("linkback: could not queue a hit")
            if exc_info is not None:
                return start_response(status, headers, exc_info)
            return start_response(status, headers)

        return self.app(environ, capture)

    def _advertisement(self, scheme: str, host: str) -> list[tuple[str, str]]:
        """The headers that advertise our Webmention and Pingback endpoints on ``host``'s pages.

        Only configured sites are advertised, and only under the normalised host name: the
        ``Host`` header is the client's to choose, and must never reach a response as sent.
        """
        headers: list[tuple[str, str]] = []
        site = self.filter.site_for(host)
        normalized = urls.normalize_host(host)
        if site is not None and normalized is not None and scheme in ("http", "https"):
            port = host.rsplit(":", 1)[1] if host.count(":") == 1 and not host.startswith("[") else ""
            base = "%s://%s%s%s" % (scheme, normalized, ":" + port if port else "", self.prefix)
            headers = [
                ("Link", '<%swebmention>; rel="webmention"' % base),
                ("X-Pingback", "%sxmlrpc" % base),
            ]
        if len(self._advertised) > 256:  # the Host header is the client's: keep the cache small
            self._advertised.clear()
        self._advertised[(scheme, host)] = headers
        return headers

    # --- endpoints under the prefix -----------------------------------------------------------

    def _serve(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self._service is None:
            from .web import build_service

            self._service = build_service(self)
        return self._service(environ, start_response)

    # --- lifecycle ----------------------------------------------------------------------------

    def _open_store(self) -> Store:
        return Store(self.database)

    def _first_store(self, store: Store) -> None:
        if self.options.sites:
            store.ensure_sites(self.options.sites)

    @property
    def store(self) -> Store:
        """A store for reading, opened on first use (each thread gets its own connection)."""
        if self._store is None:
            self._store = self._open_store()
        return self._store

    def _start(self) -> None:
        with self._start_lock:
            if self._started or self._closed:
                return
            self.writer.start()
            if self.options.crawl:
                self._start_crawler()
            self._started = True

    def _start_crawler(self) -> None:
        try:
            from .crawler import Crawler
        except ImportError:  # pragma: no cover - the crawler ships with linkback
            return
        try:
            self.crawler = Crawler(
                self.database,
                threads=self.options.crawl_threads,
                delay=self.options.crawl_delay,
                allow_private_networks=self.options.allow_private_networks,
            )
            self.crawler.start()
        except Exception:
            logger.exception("linkback: could not start the crawler")
            self.crawler = None

    def start(self) -> None:
        """Start the writer (and crawler) threads now rather than on the first request."""
        self._start()

    def flush(self) -> None:
        """Write every queued hit to the database before returning (for tests and scripts)."""
        self.writer.flush()

    def close(self) -> None:
        """Flush, stop the threads and close the database. Further hits are ignored."""
        if self._closed:
            return
        self._closed = True
        if self.crawler is not None:
            try:
                self.crawler.stop()
            except Exception:
                logger.exception("linkback: could not stop the crawler")
        self.writer.close()
        if self._store is not None:
            self._store.close()

    def _after_fork(self) -> None:
        self.writer.after_fork()
        self.crawler = None
        if self._store is not None:
            _INHERITED.append(self._store)  # never close a connection opened before fork()
        self._store = None
        self._started = False
        self._start_lock = threading.Lock()

    # --- reading ------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters of this process: hits queued, stored, dropped and skipped by reason."""
        return self.writer.stats()

    # --- display ------------------------------------------------------------------------------

    @property
    def renderer(self) -> Any:
        """The :class:`~linkback.render.Renderer` of this middleware's database (cached blocks)."""
        renderer = self.__dict__.get("_renderer")
        if renderer is None:
            from .render import Renderer

            display = self.options.extra.get("display") or {}
            renderer = self.__dict__["_renderer"] = Renderer(
                lambda: self.store,
                defaults=display,
                drop_params=self.options.drop_params,
                keep_params=self.options.keep_params,
                stylesheet_href=self.prefix + "linkbacks.css",
            )
        return renderer

    def render(self, target_url: str, **display_options: Any) -> Any:
        """The linkbacks block of one of our pages, as ``Markup`` (see :func:`linkback.render`).

        >>> middleware.render(request.url, limit=10)  # doctest: +SKIP
        """
        return self.renderer.render(target_url, **display_options)

    def render_discussions(self, target_url: str, **display_options: Any) -> Any:
        """Discussion badges of one of our pages (see :func:`linkback.render_discussions`)."""
        return self.renderer.render_discussions(target_url, **display_options)


def _close_at_exit(ref: Callable[[], LinkbackMiddleware | None]) -> None:
    middleware = ref()
    if middleware is not None:
        try:
            middleware.close()
        except Exception:
            logger.exception("linkback: flush at exit failed")


def _after_fork(ref: Callable[[], LinkbackMiddleware | None]) -> None:
    middleware = ref()
    if middleware is not None:
        middleware._after_fork()
