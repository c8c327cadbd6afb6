"""A static site (files in ``public/``) beside linkback, as nginx and a WSGI server would run them.

Requests under ``/.linkback/`` go to the middleware (JSON API, script, beacon); everything
else is a file served as is, never through Python's counting. The pages load the block
with the embed script and report their referrer to the beacon.

URLs: ``/`` and ``/posts/static-pages.html``.

The nginx equivalent::

    location /.linkback/ { proxy_pass http://127.0.0.1:8000; proxy_set_header Host $host;
                           proxy_set_header X-Forwarded-For $remote_addr; }
    location / { root /srv/site/public; }

Run it::

    python examples/static_site/serve.py   # http://127.0.0.1:5002/
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from werkzeug.exceptions import NotFound
from werkzeug.middleware.shared_data import SharedDataMiddleware

from linkback import LinkbackMiddleware
from linkback.config import DEFAULT_PREFIX

PUBLIC = Path(__file__).resolve().parent / "public"


class StaticFront:
    """The "web server": files from ``public/``, and the prefix proxied to linkback."""

    def __init__(self, linkback: LinkbackMiddleware) -> None:
        self.linkback = linkback
        self.files = SharedDataMiddleware(NotFound(), {"/": str(PUBLIC)}, fallback_mimetype="text/html")

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").startswith(self.linkback.prefix):
            return self.linkback(environ, start_response)
        if environ.get("PATH_INFO", "").endswith("/"):
            environ = dict(environ, PATH_INFO=environ["PATH_INFO"] + "index.html")
        return self.files(environ, start_response)


def create_app(database: str | os.PathLike[str] = "linkback.db", **linkback_options: Any) -> StaticFront:
    """The static site and its linkback service. ``front.linkback`` is the middleware."""
    linkback_options.setdefault("sites", ["localhost", "127.0.0.1"])
    linkback_options.setdefault("prefix", DEFAULT_PREFIX)
    # The middleware serves only its own endpoints here: it wraps nothing else.
    return StaticFront(LinkbackMiddleware(NotFound(), os.fspath(database), **linkback_options))


if __name__ == "__main__":
    from werkzeug.serving import run_simple

    run_simple("127.0.0.1", 5002, create_app(os.environ.get("LINKBACK_DB", "linkback.db")))
