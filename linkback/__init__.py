"""linkback: show every page of a website who links here.

Wrap a WSGI application in :class:`LinkbackMiddleware`; it records external referrers in an
embedded SQLite database, verifies them in the background and renders them in templates.
"""

from __future__ import annotations

from .errors import ConfigError, FetchError, LinkbackError, StoreError, UnsafeURLError
from .middleware import LinkbackMiddleware
from .render import render, render_discussions, stylesheet
from .store import Store

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "FetchError",
    "LinkbackError",
    "LinkbackMiddleware",
    "Store",
    "StoreError",
    "UnsafeURLError",
    "__version__",
    "render",
    "render_discussions",
    "stylesheet",
]
