"""Shared pieces of the protocol tests: a tiny blog behind the middleware, and requests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.test import Client, TestResponse
from werkzeug.wrappers import Request, Response

from linkback import LinkbackMiddleware
from linkback.protocols.xmlrpc import dump_call, parse_response

SITE = "example.com"
POST = "https://example.com/post"


def blog(pages: dict[str, str] | None = None) -> Callable[..., Any]:
    """A WSGI blog: ``/post`` and ``/about`` (or ``pages``); 404 for anything else."""
    pages = pages or {"/post": "<h1>A post</h1>", "/about": "<h1>About</h1>", "/": "<h1>Home</h1>"}

    @Request.application
    def app(request: Request) -> Response:
        body = pages.get(request.path)
        if body is None:
            return Response("not found", status=404)
        return Response(
            "<html><body>%s</body></html>" % body, content_type="text/html; charset=utf-8"
        )

    return app


@contextmanager
def receiving(tmp_path: Path, **options: Any) -> Iterator[tuple[LinkbackMiddleware, Client]]:
    """A middleware (no crawler) around :func:`blog`, and a test client for it."""
    options.setdefault("sites", [SITE])
    options.setdefault("crawl", False)
    middleware = LinkbackMiddleware(
        options.pop("app", None) or blog(), database=str(tmp_path / "lb.db"), **options
    )
    try:
        yield middleware, Client(middleware)
    finally:
        middleware.close()


def webmention(
    client: Client,
    source: Any,
    target: Any,
    *,
    host: str = SITE,
    address: str = "192.0.2.1",
    **kwargs: Any,
) -> TestResponse:
    data = {k: v for k, v in (("source", source), ("target", target)) if v is not None}
    return client.post(
        "/.linkback/webmention",
        data=data,
        headers={"Host": host},
        environ_base={"REMOTE_ADDR": address},
        **kwargs,
    )


def xmlrpc(
    client: Client,
    body: bytes,
    *,
    host: str = SITE,
    address: str = "192.0.2.1",
    content_type: str = "text/xml",
) -> TestResponse:
    return client.post(
        "/.linkback/xmlrpc",
        data=body,
        headers={"Host": host, "Content-Type": content_type},
        environ_base={"REMOTE_ADDR": address},
    )


def ping(client: Client, source: Any, target: Any, **kwargs: Any) -> Any:
    """Call ``pingback.ping``; return its value, or the ``Fault`` it raised."""
    from linkback.protocols.xmlrpc import Fault

    response = xmlrpc(client, dump_call("pingback.ping", [source, target]), **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    try:
        return parse_response(response.get_data())
    except Fault as fault:
        return fault


def trackback(
    client: Client,
    path: str,
    data: dict[str, str],
    *,
    host: str = SITE,
    address: str = "192.0.2.1",
    **kwargs: Any,
) -> TestResponse:
    kwargs.setdefault("base_url", "https://" + host)
    return client.post(
        "/.linkback/trackback" + path,
        data=data,
        headers={"Host": host},
        environ_base={"REMOTE_ADDR": address},
        **kwargs,
    )


def set_status(
    middleware: LinkbackMiddleware, linkback_id: int, status: str, *, checked: bool = False
) -> None:
    """Put a linkback in ``status`` as the crawler would (with a fetch just now, if ``checked``)."""
    from linkback.store import isotime, utcnow

    store = middleware.store
    with store.write() as conn:
        conn.execute("UPDATE linkbacks SET status = ? WHERE id = ?", (status, linkback_id))
        if checked:
            conn.execute(
                "INSERT INTO fetches (linkback_id, fetched_at, url, outcome) VALUES (?, ?, '', ?)",
                (linkback_id, isotime(utcnow()), status),
            )
