"""The WSGI application serving the receivers under the middleware's prefix.

``{prefix}webmention`` (and ``webmention/status/<token>``), ``{prefix}xmlrpc`` and
``{prefix}trackback/<path>``. Mounted by :mod:`linkback.web`; every error is answered in
the protocol's own form and nothing raises into the server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from ..errors import ConfigError
from . import pingback, trackback, webmention
from .limits import Limits
from .receiver import Receiver

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from ..middleware import LinkbackMiddleware

logger = logging.getLogger(__name__)


class ProtocolsApp:
    """Webmention, Pingback and Trackback receivers for one middleware.

    :param middleware: gives the sites, the store, the prefix and the options
        ``protocols`` (``False`` turns the receivers off: 404) and ``protocol_limits``.
    :param receiver: the shared receiver (built from the options when ``None``).
    """

    def __init__(self, middleware: LinkbackMiddleware, receiver: Receiver | None = None) -> None:
        self.middleware = middleware
        self.prefix = middleware.prefix
        extra = middleware.options.extra
        self.enabled = bool(extra.get("protocols", True))
        self.receiver = receiver or Receiver(
            middleware, limits=Limits.from_option(extra.get("protocol_limits"))
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            response = self.dispatch(environ)
        except Exception:  # the server must get an answer whatever went wrong
            logger.exception("linkback: a notification receiver failed")
            response = webmention.text_response("internal error", 500)
        return response(environ, start_response)

    def dispatch(self, environ: WSGIEnvironment) -> Response:
        rest = environ.get("PATH_INFO", "")[len(self.prefix) :]
        if not self.enabled:
            return webmention.text_response("not found", 404)
        if rest in ("webmention", "webmention/"):
            return webmention.receive(self.receiver, environ, self.prefix)
        if rest.startswith("webmention/status/"):
            return webmention.status(self.receiver, environ, rest[len("webmention/status/") :])
        if rest in ("xmlrpc", "xmlrpc/"):
            return pingback.receive(self.receiver, environ)
        if rest == "trackback" or rest.startswith("trackback/"):
            return trackback.receive(self.receiver, environ, "/" + rest[len("trackback/") :])
        return webmention.text_response("not found", 404)


def make_app(middleware: LinkbackMiddleware) -> Any:
    """The receivers' WSGI application for ``middleware`` (see :mod:`linkback.web`).

    A bad ``protocol_limits`` option is logged and answered ``500`` on every receiver
    rather than raised into the server.
    """
    try:
        return ProtocolsApp(middleware)
    except ConfigError as e:
        logger.error("linkback: receivers disabled: %s", e)
        return webmention.text_response("linkback is misconfigured: %s" % e, 500)
