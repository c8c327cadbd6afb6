"""The Linkback manager: a web admin to moderate linkbacks, manage sites and the blacklist.

Served by the middleware under its prefix (``/.linkback/admin/``) unless ``admin=False``,
or on its own with ``linkback admin --host 127.0.0.1 --port 8080``. Accounts are made with
``linkback create-user NAME``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import NotFound

from ..store import Store
from .app import AdminApp
from .commands import admin, create_user

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from ..middleware import LinkbackMiddleware

#: ``linkback`` CLI commands this package adds.
commands = [admin, create_user]


def make_app(middleware: LinkbackMiddleware) -> WSGIApplication:
    """The manager as the middleware serves it, under ``{prefix}admin``."""
    extra = middleware.options.extra
    if extra.get("admin", True) is False:
        return NotFound()
    return AdminApp(
        lambda: middleware.store,
        secret_key=extra.get("secret_key"),
        mount=middleware.prefix + "admin",
        middleware=middleware,
        database=middleware.database,
        prefix=middleware.prefix,
        config_blacklist=middleware.options.blacklist,
    )


def create_app(database: str | os.PathLike[str] = "linkback.db", **options: Any) -> AdminApp:
    """The manager as a standalone WSGI application over a database file.

    :param options: ``secret_key``, ``prefix`` (shown in snippets) — see :class:`AdminApp`.

    >>> app = create_app("linkback.db")     # doctest: +SKIP
    """
    return AdminApp(Store(database), database=os.fspath(database), **options)


__all__ = ["AdminApp", "commands", "create_app", "make_app"]
