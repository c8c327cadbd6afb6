"""Django: settings, the WSGI wrapper and the ``{% linkbacks %}`` template tag.

``settings.py``::

    INSTALLED_APPS = [..., "linkback.contrib.django"]
    LINKBACK = {"database": BASE_DIR / "linkback.db", "sites": ["example.com"]}

``wsgi.py``::

    from django.core.wsgi import get_wsgi_application
    from linkback.contrib.django import wrap

    application = wrap(get_wsgi_application())

In a template (with the ``request`` context processor)::

    {% load linkback %}
    {% linkbacks request.build_absolute_uri %}
    {% linkbacks request.build_absolute_uri limit=5 order="newest" %}
    {% linkback_discussions request.build_absolute_uri %}

``LINKBACK`` holds ``database`` and any :class:`~linkback.LinkbackMiddleware` option;
``display`` there sets the default display options.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from ...config import DEFAULT_PREFIX
from ...middleware import LinkbackMiddleware
from ...render import Renderer
from ...store import Store

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

_state: dict[str, Any] = {"middleware": None, "renderers": {}}
_lock = threading.Lock()


def settings_options() -> dict[str, Any]:
    """``settings.LINKBACK`` as a plain dict (empty when unset)."""
    from django.conf import settings

    return dict(getattr(settings, "LINKBACK", None) or {})


def wrap(application: WSGIApplication, **overrides: Any) -> LinkbackMiddleware:
    """Wrap Django's WSGI application in the middleware configured by ``settings.LINKBACK``."""
    options = settings_options()
    options.update(overrides)
    database = os.fspath(options.pop("database", "linkback.db"))
    middleware = LinkbackMiddleware(application, database, **options)
    _state["middleware"] = middleware
    return middleware


def current_renderer() -> Renderer:
    """The wrapped middleware's renderer, or one built from the settings.

    Django's test client and ``runserver`` call the application without ``wsgi.py``, so
    the template tag must work without the wrapper too.
    """
    middleware = _state["middleware"]
    options = settings_options()
    database = os.path.abspath(os.fspath(options.get("database", "linkback.db")))
    if middleware is not None and not middleware._closed and os.path.abspath(middleware.database) == database:
        return middleware.renderer
    key = (database, repr(sorted(options.items())))
    renderer = _state["renderers"].get(key)
    if renderer is None:
        with _lock:
            renderer = _state["renderers"].get(key)
            if renderer is None:
                prefix = options.get("prefix", DEFAULT_PREFIX)
                keep = options.get("keep_params", ())
                renderer = Renderer(
                    Store(database), defaults=options.get("display"), keep_params=keep,
                    stylesheet_href=prefix + "linkbacks.css",
                )
                _state["renderers"][key] = renderer
    return renderer
