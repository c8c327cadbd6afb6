"""A plain WSGI site with Jinja2 templates (no framework): the ``linkbacks`` global at work.

URLs: ``/`` (a page) and ``/notes/<slug>`` (slugs in :data:`NOTES`).

Run it::

    python examples/jinja2_app.py          # http://127.0.0.1:5001/
"""

from __future__ import annotations

import os
from typing import Any

from jinja2 import DictLoader, Environment
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from linkback import LinkbackMiddleware
from linkback.contrib.jinja2 import install

#: slug → (title, text).
NOTES: dict[str, tuple[str, str]] = {
    "hello-linkback": ("Hello from Jinja2", "Any WSGI application can show its linkbacks."),
    "second": ("A second note", "Every page gets its own block."),
}

TEMPLATES = {
    "note.html": """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>body { font: 17px/1.6 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }</style>
</head><body>
<h1>{{ title }}</h1>
<p>{{ text }}</p>
{{ linkbacks(url) }}
</body></html>""",
}


class NotesApp:
    """A werkzeug application rendering :data:`NOTES` through Jinja2."""

    def __init__(self) -> None:
        self.url_map = Map([Rule("/", endpoint="index"), Rule("/notes/<slug>", endpoint="note")])
        self.jinja = Environment(loader=DictLoader(TEMPLATES), autoescape=True)

    def on_index(self, request: Request) -> Response:
        return self.on_note(request, "hello-linkback")

    def on_note(self, request: Request, slug: str) -> Response:
        if slug not in NOTES:
            raise NotFound()
        title, text = NOTES[slug]
        page = self.jinja.get_template("note.html").render(title=title, text=text, url=request.url)
        return Response(page, content_type="text/html; charset=utf-8")

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            endpoint, values = self.url_map.bind_to_environ(environ).match()
            response = getattr(self, "on_" + endpoint)(request, **values)
        except HTTPException as e:
            response = e.get_response(environ)
        return response(environ, start_response)


def create_app(database: str | os.PathLike[str] = "linkback.db", **linkback_options: Any) -> LinkbackMiddleware:
    """The notes site wrapped in the middleware, its templates rendering through it."""
    notes = NotesApp()
    linkback_options.setdefault("sites", ["localhost", "127.0.0.1"])
    middleware = LinkbackMiddleware(notes, os.fspath(database), **linkback_options)
    install(notes.jinja, middleware)
    return middleware


if __name__ == "__main__":
    from werkzeug.serving import run_simple

    run_simple("127.0.0.1", 5001, create_app(os.environ.get("LINKBACK_DB", "linkback.db")))
