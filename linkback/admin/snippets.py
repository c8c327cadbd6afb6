"""The "Get code" snippets: how to add linkback to a site, with that site's values filled in.

Each snippet is plain text shown in a ``<pre>`` (escaped by the template); the values put in
come from the validated site host and the middleware's options, never from a request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Snippet:
    """One way to install linkback: a title, the code, and what to do with it."""

    key: str
    title: str
    where: str
    code: str


def snippets(host: str, *, database: str = "linkback.db", prefix: str = "/.linkback/") -> list[Snippet]:
    """Installation snippets for the site ``host``.

    :param host: the site's host, as stored (already validated).
    :param database: the database file the site should use.
    :param prefix: where the middleware serves its endpoints.
    """
    db = json.dumps(database)
    sites = json.dumps([host])
    extra = "" if prefix == "/.linkback/" else ", prefix=%s" % json.dumps(prefix)
    return [
        Snippet(
            "wsgi", "Plain WSGI", "Wrap the application in your WSGI entry point (e.g. wsgi.py).",
            "from linkback import LinkbackMiddleware, render\n\n"
            "application = LinkbackMiddleware(application, database=%s, sites=%s%s)\n\n"
            "# Where a page is built:\n"
            "html = render(page_url, database=%s)   # markupsafe.Markup, safe to insert\n"
            % (db, sites, extra, db),
        ),
        Snippet(
            "flask", "Flask", "In the module that creates the app; then in any template.",
            "from linkback.contrib.flask import Linkback\n\n"
            'app.config["LINKBACK"] = {"database": %s, "sites": %s%s}\n'
            "Linkback(app)\n\n"
            "{# templates/post.html #}\n"
            "{{ linkbacks() }}\n"
            % (db, sites, ', "prefix": %s' % json.dumps(prefix) if extra else ""),
        ),
        Snippet(
            "django", "Django", "settings.py, wsgi.py and a template.",
            "# settings.py\n"
            'INSTALLED_APPS += ["linkback.contrib.django"]\n'
            'LINKBACK = {"database": %s, "sites": %s%s}\n\n'
            "# wsgi.py\n"
            "from django.core.wsgi import get_wsgi_application\n"
            "from linkback.contrib.django import wrap\n\n"
            "application = wrap(get_wsgi_application())\n\n"
            "{# a template #}\n"
            "{%% load linkback %%}\n"
            "{%% linkbacks request.build_absolute_uri %%}\n"
            % (db, sites, ', "prefix": %s' % json.dumps(prefix) if extra else ""),
        ),
        Snippet(
            "jinja2", "Jinja2", "Any Jinja2 environment, once the middleware wraps the app.",
            "from jinja2 import Environment, FileSystemLoader\n"
            "from linkback.contrib.jinja2 import install\n\n"
            'env = Environment(loader=FileSystemLoader("templates"), autoescape=True)\n'
            "install(env, middleware)        # the LinkbackMiddleware wrapping your app\n\n"
            "{# a template #}\n"
            "{{ linkbacks(page_url) }}\n",
        ),
        Snippet(
            "static", "Static site",
            "Pages served by nginx, a CDN or a static host: route %s on %s to an application"
            " wrapped in the middleware, then add this where the block goes." % (prefix, host),
            '<div data-linkbacks></div>\n'
            '<script src="https://%s%slinkbacks.js" async></script>\n' % (host, prefix),
        ),
    ]
