"""Jinja2: a ``linkbacks`` global and filter for any environment.

::

    from jinja2 import Environment
    from linkback.contrib.jinja2 import install

    env = Environment(autoescape=True)
    install(env, middleware)            # or install(env, "linkback.db")

    {{ linkbacks(page_url) }}  {{ page_url|linkbacks(limit=5) }}
    {{ linkback_discussions(page_url) }}
    <style>{{ linkback_stylesheet() }}</style>
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from ..render import Renderer, renderer_for, stylesheet

if TYPE_CHECKING:
    from jinja2 import Environment

    from ..middleware import LinkbackMiddleware


def renderer_of(source: LinkbackMiddleware | Renderer | str | os.PathLike[str]) -> Renderer:
    """The renderer behind a middleware, a renderer, or a database path."""
    if isinstance(source, Renderer):
        return source
    if isinstance(source, (str, os.PathLike)):
        return renderer_for(source)
    return source.renderer


def install(
    environment: Environment,
    source: LinkbackMiddleware | Renderer | str | os.PathLike[str] = "linkback.db",
    **display_options: Any,
) -> None:
    """Add ``linkbacks`` (global and filter), ``linkback_discussions`` and ``linkback_stylesheet``.

    :param environment: the Jinja2 environment (``autoescape`` on, as always for HTML).
    :param source: the application's :class:`~linkback.LinkbackMiddleware` (preferred: its
        options and stylesheet route apply), a database path, or a renderer.
    :param display_options: defaults for every block rendered in this environment.
    """
    renderer = renderer_of(source)

    def linkbacks(url: str, **options: Any) -> Markup:
        return renderer.render(url, **{**display_options, **options})

    def linkback_discussions(url: str, **options: Any) -> Markup:
        return renderer.render_discussions(url, **{**display_options, **options})

    environment.globals.update(
        linkbacks=linkbacks, linkback_discussions=linkback_discussions,
        linkback_stylesheet=stylesheet,
    )
    environment.filters["linkbacks"] = linkbacks
