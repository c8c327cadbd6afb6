"""Real HTTP servers on 127.0.0.1 for tests: serve any WSGI application in a thread."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@contextmanager
def serve(app: Callable[..., Any], host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` on a free loopback port; yield its base URL (no trailing slash)."""
    server = make_server(host, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://%s:%d" % (host, server.server_port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def pages_app(pages: Mapping[str, Any]) -> Callable[..., Any]:
    """A WSGI app serving ``{path: body}`` or ``{path: (status, headers, body)}``; 404 otherwise.

    The path may include the query string (``/item?id=1``). Records every request it sees
    in ``app.requests`` (method, path with query, headers) so tests can assert what arrived.
    """
    requests: list[tuple[str, str, dict[str, str]]] = []

    @Request.application
    def app(request: Request) -> Response:
        full = request.path + ("?" + request.query_string.decode() if request.query_string else "")
        requests.append((request.method, full, dict(request.headers)))
        page = pages.get(full, pages.get(request.path))
        if page is None:
            return Response("not found", status=404)
        if isinstance(page, tuple):
            status, headers, body = page
            return Response(body, status=status, headers=headers)
        return Response(page, content_type="text/html; charset=utf-8")

    app.requests = requests  # type: ignore[attr-defined]
    return app
