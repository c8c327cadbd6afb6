"""Shared pieces of the capture tests: a trivial site, a way to send visits, and a raw look
into the database file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from conftest import BROWSER_UA
from werkzeug.test import Client

from linkback import LinkbackMiddleware
from linkback.filters import Accepted
from linkback.writer import Aggregator

__all__ = ["BROWSER_UA", "html_app", "make_middleware", "visit", "all_text", "hits_for"]


def html_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """A site whose pages are HTML, except ``/api*`` (JSON), ``/missing`` (404) and
    ``/moved`` (302)."""
    path = environ.get("PATH_INFO", "")
    if path.startswith("/api"):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]
    if path == "/missing":
        start_response("404 Not Found", [("Content-Type", "text/html")])
        return [b"<p>not here</p>"]
    if path == "/moved":
        start_response("302 Found", [("Location", "/"), ("Content-Type", "text/html")])
        return [b""]
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [b"<p>page</p>"]


def make_middleware(db_path: str, app: Any = html_app, **options: Any) -> LinkbackMiddleware:
    """A middleware over ``app`` with the crawler off (capture only)."""
    options.setdefault("crawl", False)
    options.setdefault("sites", ["example.com"])
    return LinkbackMiddleware(app, db_path, **options)


def visit(
    client: Client,
    path: str = "/post",
    referer: str | None = "https://blog.example.org/entry",
    *,
    host: str = "example.com",
    agent: str = BROWSER_UA,
    address: str = "203.0.113.7",
    method: str = "GET",
) -> Any:
    """One request through ``client``, with the headers a browser following a link sends."""
    headers = {"Host": host, "User-Agent": agent}
    if referer is not None:
        headers["Referer"] = referer
    return client.open(
        path, method=method, headers=headers, environ_overrides={"REMOTE_ADDR": address}
    )


def all_text(path: str) -> str:
    """Every text and blob value in every table of the database, as one string."""
    conn = sqlite3.connect(path)
    try:
        chunks = []
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in conn.execute('SELECT * FROM "%s"' % table):
                for value in row:
                    if isinstance(value, bytes):
                        chunks.append(value.decode("latin-1"))
                    elif value is not None:
                        chunks.append(str(value))
        return "\n".join(chunks)
    finally:
        conn.close()


def hits_for(
    source: str, target: str, day: str, clients: Iterable[tuple[str, str]], salt: bytes,
    site: str = "example.com",
) -> dict:
    """Aggregated groups for ``Store.record_hits``: one hit per (address, user agent) given,
    hashed exactly as the writer hashes them."""

    aggregator = Aggregator(lambda _day: salt)
    accepted = Accepted(source, target, site)
    for address, agent in clients:
        aggregator.add(accepted, day, address, agent)
    return aggregator.take()
