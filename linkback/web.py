"""Endpoints the middleware serves under its prefix (default ``/.linkback/``).

Each part of linkback that answers HTTP requests provides a factory
``make_app(middleware) -> WSGI application``; this module mounts them by the first path
segment after the prefix; any other path under the prefix answers 404.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import InternalServerError, NotFound

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .middleware import LinkbackMiddleware

logger = logging.getLogger(__name__)

#: First path segment under the prefix → the module whose ``make_app`` serves it.
MOUNTS: dict[str, str] = {
    # Display (JSON API, async embed script, stylesheet, beacon).
    "api": "linkback.display_api",
    "linkbacks.js": "linkback.display_api",
    "linkbacks.css": "linkback.display_api",
    "beacon": "linkback.display_api",
    # The Linkback manager.
    "admin": "linkback.admin",
    # Protocols.
    "webmention": "linkback.protocols",
    "xmlrpc": "linkback.protocols",
    "trackback": "linkback.protocols",
}


def build_service(middleware: LinkbackMiddleware) -> WSGIApplication:
    """The WSGI application behind the prefix, for one middleware."""
    prefix = middleware.prefix
    apps: dict[str, Any] = {}

    def service(environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        rest = environ.get("PATH_INFO", "")[len(prefix) :]
        segment = rest.split("/", 1)[0]
        module_name = MOUNTS.get(segment)
        if module_name is None:
            return NotFound()(environ, start_response)
        app = apps.get(module_name)
        if app is None:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                # Every mounted part ships with linkback: a failed import is a broken install,
                # said loudly rather than passed off as "not found".
                logger.exception("linkback: cannot load %s", module_name)
                return InternalServerError()(environ, start_response)
            app = apps[module_name] = module.make_app(middleware)
        return app(environ, start_response)

    return service
