"""``{% load linkback %}``: the ``linkbacks``, ``linkback_discussions`` and ``linkback_stylesheet`` tags."""

from __future__ import annotations

from typing import Any

from django import template
from markupsafe import Markup

from ....render import stylesheet
from .. import current_renderer

register = template.Library()


def _url(context: template.Context, url: Any) -> str:
    if url:
        return str(url)
    request = context.get("request")
    return request.build_absolute_uri() if request is not None else ""


@register.simple_tag(takes_context=True)
def linkbacks(context: template.Context, url: Any = None, **options: Any) -> Markup:
    """``{% linkbacks request.build_absolute_uri limit=5 %}``: the page's block (escaped, safe)."""
    return current_renderer().render(_url(context, url), **options)


@register.simple_tag(takes_context=True)
def linkback_discussions(context: template.Context, url: Any = None, **options: Any) -> Markup:
    """``{% linkback_discussions request.build_absolute_uri %}``: the discussion badges."""
    return current_renderer().render_discussions(_url(context, url), **options)


@register.simple_tag
def linkback_stylesheet() -> Markup:
    """``<style>{% linkback_stylesheet %}</style>``: the default stylesheet inline."""
    return stylesheet()
