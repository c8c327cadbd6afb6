"""Flask: wrap the application, add the template helpers and the ``flask linkback`` commands.

::

    from flask import Flask
    from linkback.contrib.flask import Linkback

    app = Flask(__name__)
    app.config["LINKBACK"] = {"database": "linkback.db", "sites": ["example.com"]}
    Linkback(app)                       # or: linkback = Linkback(); linkback.init_app(app)

    {{ linkbacks() }}                   {# this page's block; or linkbacks(url, limit=5) #}
    {{ linkback_discussions() }}

Options come from ``app.config["LINKBACK"]`` (``database`` plus any middleware option),
then the keywords given to :class:`Linkback`, then those given to :meth:`Linkback.init_app`.
"""

from __future__ import annotations

from typing import Any

try:
    import flask
    from flask.cli import with_appcontext
except ImportError as e:  # pragma: no cover - depends on the installed extras
    raise ImportError("linkback.contrib.flask needs Flask: pip install 'linkback[flask]'") from e

import click
from markupsafe import Markup

from ..middleware import LinkbackMiddleware
from ..render import stylesheet


def current_middleware() -> LinkbackMiddleware:
    """The middleware of the application handling the current request or command."""
    return flask.current_app.extensions["linkback"]


def _url(url: str | None) -> str:
    return url if url is not None else flask.request.url


def linkbacks(url: str | None = None, **options: Any) -> Markup:
    """The block of ``url`` (default: the page being rendered)."""
    return current_middleware().render(_url(url), **options)


def linkback_discussions(url: str | None = None, **options: Any) -> Markup:
    """Discussion badges of ``url`` (default: the page being rendered)."""
    return current_middleware().render_discussions(_url(url), **options)


class Linkback:
    """The Flask extension: ``Linkback(app, **options)`` or ``init_app`` later.

    :param options: ``database`` and any :class:`~linkback.LinkbackMiddleware` option.
    """

    def __init__(self, app: flask.Flask | None = None, **options: Any) -> None:
        self.options = options
        if app is not None:
            self.init_app(app)

    def init_app(self, app: flask.Flask, **options: Any) -> LinkbackMiddleware:
        """Wrap ``app.wsgi_app``, register the helpers and commands; return the middleware."""
        config = dict(app.config.get("LINKBACK") or {})
        config.update(self.options)
        config.update(options)
        database = config.pop("database", "linkback.db")
        middleware = LinkbackMiddleware(app.wsgi_app, database, **config)
        app.wsgi_app = middleware  # type: ignore[method-assign]
        app.extensions["linkback"] = middleware
        app.add_template_global(linkbacks, "linkbacks")
        app.add_template_global(linkback_discussions, "linkback_discussions")
        app.add_template_global(stylesheet, "linkback_stylesheet")
        app.add_template_filter(linkbacks, "linkbacks")
        app.cli.add_command(_command_group())
        return middleware


class _Commands(click.Group):
    """The ``linkback`` commands, imported only when ``flask linkback`` runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from ..cli import main

        return sorted(main.commands)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        from ..cli import main

        return main.commands.get(name)


def _command_group() -> click.Group:
    """``flask linkback …``: the ``linkback`` commands on the application's database."""

    @click.group("linkback", cls=_Commands)
    @click.option("--db", default=None, type=click.Path(dir_okay=False),
                  help="The SQLite database file (default: the application's).")
    @click.pass_context
    @with_appcontext
    def group(ctx: click.Context, db: str | None) -> None:
        """Show every page of your site who links to it (on this application's database)."""
        ctx.obj = {"db": db or current_middleware().database}

    return group
