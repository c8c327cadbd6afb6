"""The demo scenario: start the sites, send a burst of visits, verify, and say where to look.

Everything runs on loopback. The crawler is allowed to fetch private addresses here only
because every referring site of the demo is one; a real deployment keeps that off.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import logging
import os
import secrets
import shutil
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, make_server

from ..filters import HitFilter
from ..logs import import_log
from ..middleware import LinkbackMiddleware
from ..store import Store
from . import sites

logger = logging.getLogger(__name__)

#: A browser's user agent; visitors differ by the version number, as real ones do.
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.%d.0 Safari/537.36"
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@dataclass
class Demo:
    """A running demo: its servers, its middleware and the URLs to print."""

    workdir: str
    database: str
    blog: str
    middleware: LinkbackMiddleware
    referrers: dict[str, str] = field(default_factory=dict)
    servers: list[BaseWSGIServer] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    username: str = "demo"
    password: str = ""

    @property
    def admin(self) -> str:
        return self.blog + self.middleware.prefix + "admin/"

    def post(self, slug: str) -> str:
        return "%s/posts/%s" % (self.blog, slug)

    def stop(self) -> None:
        """Stop every server and the middleware's threads."""
        for server in self.servers:
            server.shutdown()
            server.server_close()
        for thread in self.threads:
            thread.join(5)
        self.middleware.close()


def _serve(app: Callable[..., Any], host: str, port: int) -> BaseWSGIServer:
    """A threaded server on ``host:port``, or on a free port when that one is taken."""
    if port and not _port_free(host, port):
        port = 0
    return make_server(host, port, app, threaded=True)


def _port_free(host: str, port: int) -> bool:
    # werkzeug exits the process when a port is taken; ask first.
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def loopback_available(host: str) -> bool:
    """True if this machine can bind ``host`` (Linux routes all of 127.0.0.0/8 to loopback)."""
    return _port_free(host, 0)


def start(workdir: str, *, port: int = 8000, keep: bool = False) -> Demo:
    """Start the blog (wrapped in the middleware) and the referring sites.

    :param keep: reuse the database of an earlier run instead of starting afresh.
    """
    os.makedirs(workdir, exist_ok=True)
    database = os.path.join(workdir, "linkback.db")
    if not keep:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(database + suffix):
                os.remove(database + suffix)
    holder: dict[str, LinkbackMiddleware] = {}
    blog = sites.blog_app(lambda url: holder["mw"].render(url))
    middleware = LinkbackMiddleware(
        blog,
        database,
        sites=["127.0.0.1", "localhost"],
        crawl=False,  # the scenario runs the crawler itself, then starts it for later visits
        allow_private_networks=True,
        flush_interval=0.2,
    )
    holder["mw"] = middleware
    server = _serve(middleware, "127.0.0.1", port)
    demo = Demo(workdir, database, "http://127.0.0.1:%d" % server.server_port, middleware)
    demo.servers.append(server)
    for site in sites.referring_sites(demo.blog):
        host = site.host if loopback_available(site.host) else "localhost"
        ref_server = _serve(sites.site_app(site.pages), host, 0)
        demo.servers.append(ref_server)
        demo.referrers[site.name] = "http://%s:%d" % (host, ref_server.server_port)
    for srv in demo.servers:
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()
        demo.threads.append(thread)
    return demo


def _visit(session: requests.Session, url: str, referer: str, agent: str) -> None:
    session.get(url, headers={"Referer": referer, "User-Agent": agent}, timeout=10)


def simulate(demo: Demo) -> dict[str, int]:
    """Send the burst of visits; return how many of each kind were sent."""
    alice, bob, news = demo.referrers.values()
    sent = {"visitors": 0, "replayed": 0, "bot": 0, "spoofed": 0}
    with requests.Session() as session:
        session.trust_env = False
        for i in range(14):  # readers of Alice's front page
            _visit(session, demo.post("hello-linkback"), alice + "/", BROWSER % i)
            sent["visitors"] += 1
        for i in range(9):  # readers of Bob's post
            _visit(session, demo.post("permalinks"), bob + "/posts/backlinks-are-back.html", BROWSER % (100 + i))
            sent["visitors"] += 1
        for i in range(31):  # a discussion sends a crowd
            _visit(session, demo.post("fraud-compensation"), news + "/item/4242?utm_source=demo", BROWSER % (200 + i))
            sent["visitors"] += 1
        for _ in range(400):  # one client replaying the same Referer
            _visit(session, demo.post("fraud-compensation"), news + "/item/4242", BROWSER % 999)
            sent["replayed"] += 1
        for _ in range(5):  # a crawler following links: not counted
            _visit(session, demo.post("hello-linkback"), bob + "/posts/backlinks-are-back.html", BOT)
            sent["bot"] += 1
        for i in range(3):  # a Referer whose page does not link here: stays unverified
            _visit(session, demo.post("hello-linkback"), bob + "/posts/unrelated.html", BROWSER % (300 + i))
            sent["spoofed"] += 1
    demo.middleware.flush()
    return sent


def backfill(demo: Demo, days: int = 21) -> int:
    """Import a generated access log of the last ``days`` days, so the charts have a history.

    Alice's entry fades after its first days; the discussion grows. Returns the hits counted.
    """
    alice, _bob, news = demo.referrers.values()
    netloc = demo.blog.split("//", 1)[1]
    today = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    lines = []
    for back in range(days, 0, -1):
        moment = (today - dt.timedelta(days=back)).strftime("%d/%b/%Y:%H:%M:%S +0000")
        fading = max(0, 12 - 2 * (days - back))
        growing = max(0, (days - back) // 2)
        for source, slug, count in (
            (alice + "/", "hello-linkback", fading),
            (news + "/item/4242", "fraud-compensation", growing),
        ):
            for i in range(count):
                lines.append(
                    '10.1.%d.%d - - [%s] "GET /posts/%s HTTP/1.1" 200 5120 "%s" "%s"'
                    % (back, i, moment, slug, source, BROWSER % (500 + i))
                )
    store = Store(demo.database)
    try:
        hit_filter = HitFilter(demo.middleware.options)
        data = gzip.compress("\n".join(lines).encode())
        summary = import_log(store, gzip.GzipFile(fileobj=io.BytesIO(data)), hit_filter, scheme="http", host=netloc)
    finally:
        store.close()
    return summary.counted


def verify(demo: Demo) -> dict[str, Any]:
    """Run the crawler over everything captured, with loopback allowed for the demo's sites."""
    from ..crawler import Crawler

    crawler = Crawler(demo.database, threads=2, delay=0.0, allow_private_networks=True)
    return crawler.run_once()


def create_login(demo: Demo) -> None:
    """A manager account for the demo, with a fresh password printed on the terminal."""
    from ..admin.auth import hash_password

    demo.password = secrets.token_urlsafe(9)
    store = Store(demo.database)
    try:
        existing = store.user_by_name(demo.username)
        if existing is None:
            store.create_user(demo.username, hash_password(demo.password))
        else:
            store.set_password(existing["id"], hash_password(demo.password))
    finally:
        store.close()


def remove(workdir: str) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
