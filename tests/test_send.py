"""Sending: outbound links, the three protocols against loopback endpoints, results kept
per (source, target), and the ``linkback send`` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from werkzeug.wrappers import Request, Response

from linkback.cli import main
from linkback.extract import parse_html
from linkback.protocols import send_linkbacks
from linkback.protocols.sender import outbound_links
from linkback.protocols.xmlrpc import dump_fault, dump_response, parse_call
from linkback.store import Store
from tests.servers import serve

OURS = "https://me.example/2024/post"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        pytest.param(
            '<nav><a href="https://n.example/">n</a></nav><article><a href="https://a.example/x#c">a</a>'
            '<a href="https://a.example/x">again</a></article>',
            ["https://a.example/x"],
            id="article, fragment dropped, once",
        ),
        pytest.param(
            '<div class="h-entry"><header><a href="https://h.example/">h</a></header>'
            '<div class="e-content"><a href="/local">l</a><a href="https://b.example/">b</a></div>'
            '<footer><a href="https://f.example/">f</a></footer></div>',
            ["https://b.example/"],
            id="h-entry e-content only, own origin left out",
        ),
        pytest.param(
            '<main><aside><a href="https://s.example/">s</a></aside><p><a href="mailto:x@y.z">m</a>'
            '<a href="//c.example/p">c</a></p></main>',
            ["https://c.example/p"],
            id="main, aside left out",
        ),
        pytest.param(
            '<body><header><a href="https://h.example/">h</a></header><p><a href="http://me.example/x">'
            'x</a><a href="https://me.example:8443/y">y</a></p></body>',
            ["http://me.example/x", "https://me.example:8443/y"],
            id="body; other origins of our host",
        ),
        pytest.param(
            '<base href="https://base.example/dir/"><article><a href="rel">r</a></article>',
            ["https://base.example/dir/rel"],
            id="base href",
        ),
    ],
)
def test_outbound_links(html: str, expected: list[str]) -> None:
    tree = parse_html("<html>%s</html>" % html)
    assert outbound_links(tree, OURS) == expected


def test_outbound_links_of_mention_client_php_sources(corpus: Path) -> None:
    from tests.test_discovery import raw_response

    folder = corpus / "mention-client-php" / "data" / "source.example.com"
    for name, expected in (
        ("send-to-h-entry-links.html", ["http://target.example.com/webmention-created.html"]),
        (
            "two-valid-links.html",
            [
                "http://target.example.com/only-pingback.html",
                "http://target.example.com/webmention-created.html",
            ],
        ),
    ):
        _status, _headers, body = raw_response(folder / name)
        assert outbound_links(parse_html(body), "http://source.example.com/" + name) == expected


class Endpoints:
    """A loopback site whose pages advertise endpoints that answer as told."""

    def __init__(self) -> None:
        self.received: list[tuple[str, Any]] = []
        self.webmention_status = 202
        self.pingback_fault: int | None = None
        self.trackback_error = "0"

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)

    @Request.application
    def app(self, request: Request) -> Response:
        path = request.path
        if path == "/wm-page":
            return Response(
                "<p>wm</p>",
                content_type="text/html",
                headers={"Link": '</wm?token=1>; rel="webmention"'},
            )
        if path == "/pb-page":
            return Response("<p>pb</p>", content_type="text/html", headers={"X-Pingback": "/rpc"})
        if path == "/tb-page":
            rdf = (
                '<!-- <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
                'xmlns:dc="http://purl.org/dc/elements/1.1/" '
                'xmlns:trackback="http://madskills.com/public/xml/rss/module/trackback/">'
                '<rdf:Description rdf:about="%s" dc:identifier="%s" trackback:ping="/tb/1" /></rdf:RDF> -->'
                % (request.url, request.url)
            )
            return Response("<p>tb</p>" + rdf, content_type="text/html")
        if path == "/plain":
            return Response("<p>no endpoint</p>", content_type="text/html")
        if path == "/wm":
            self.received.append(("webmention", (request.args.get("token"), dict(request.form))))
            return Response("ok", status=self.webmention_status)
        if path == "/rpc":
            self.received.append(("pingback", parse_call(request.get_data())))
            if self.pingback_fault is not None:
                return Response(dump_fault(self.pingback_fault, "no"), content_type="text/xml")
            return Response(dump_response("thanks"), content_type="text/xml")
        if path == "/tb/1":
            self.received.append(("trackback", dict(request.form)))
            message = "" if self.trackback_error == "0" else "<message>nope</message>"
            return Response(
                "<?xml version='1.0'?><response><error>%s</error>%s</response>"
                % (self.trackback_error, message),
                content_type="text/xml",
            )
        return Response("not found", status=404)


def page_linking(base: str, *paths: str) -> str:
    links = "".join('<a href="%s%s">%s</a> ' % (base, p, p) for p in paths)
    return (
        "<html><head><title>My post</title></head><body><nav><a href='%s/nav'>x</a></nav>"
        "<article><h1>My post</h1><p>Text about things. %s</p></article></body></html>"
        % (base, links)
    )


def test_each_protocol_and_what_is_recorded(tmp_path: Path) -> None:
    endpoints = Endpoints()
    store = Store(str(tmp_path / "s.db"))
    with serve(endpoints) as base:
        html = page_linking(base, "/wm-page", "/pb-page", "/tb-page", "/plain", "/missing")
        results = send_linkbacks(
            OURS, html=html, store=store, allow_private_networks=True, host_delay=0
        )
        got = {r.target.rsplit("/", 1)[1]: (r.protocol, r.outcome) for r in results}
        assert got == {
            "wm-page": ("webmention", "sent"),
            "pb-page": ("pingback", "sent"),
            "tb-page": ("trackback", "sent"),
            "plain": (None, "no-endpoint"),
            "missing": (None, "failed"),
        }
        kinds = dict(endpoints.received)
        # The endpoint's query string is kept; source and target travel in the body only.
        assert kinds["webmention"] == ("1", {"source": OURS, "target": base + "/wm-page"})
        assert kinds["pingback"] == ("pingback.ping", [OURS, base + "/pb-page"])
        assert kinds["trackback"]["url"] == OURS and kinds["trackback"]["title"] == "My post"
        assert kinds["trackback"]["excerpt"].startswith("My post Text about things.")
        sends = store.sends(OURS)
        assert sends[base + "/wm-page"]["endpoint"] == base + "/wm?token=1"
        assert (
            sends[base + "/missing"]["outcome"] == "failed"
            and sends[base + "/missing"]["http_status"] == 404
        )

        # A re-run sends nothing new, but retries the failure.
        endpoints.received.clear()
        again = {
            r.target.rsplit("/", 1)[1]: r.outcome
            for r in send_linkbacks(
                OURS, html=html, store=store, allow_private_networks=True, host_delay=0
            )
        }
        assert again == {
            "wm-page": "unchanged",
            "pb-page": "unchanged",
            "tb-page": "unchanged",
            "plain": "unchanged",
            "missing": "failed",
        }
        assert endpoints.received == []

        # Edited: only Webmention has updates. Removed links are recorded as no longer linked.
        edited = page_linking(base, "/wm-page", "/pb-page").replace("things", "other things")
        later = {
            r.target.rsplit("/", 1)[1]: (r.outcome, r.linked)
            for r in send_linkbacks(
                OURS, html=edited, store=store, allow_private_networks=True, host_delay=0
            )
        }
        assert later == {
            "wm-page": ("sent", True),
            "pb-page": ("unchanged", True),
            "tb-page": ("removed", False),
            "plain": ("removed", False),
            "missing": ("removed", False),
        }
        assert [k for k, _ in endpoints.received] == ["webmention"]
    store.close()


def test_endpoint_failures(tmp_path: Path) -> None:
    endpoints = Endpoints()
    endpoints.webmention_status = 400
    endpoints.pingback_fault = 0x0011
    endpoints.trackback_error = "1"
    with serve(endpoints) as base:
        results = send_linkbacks(
            OURS,
            html=page_linking(base, "/wm-page", "/pb-page", "/tb-page"),
            allow_private_networks=True,
            host_delay=0,
        )
        assert [(r.outcome, r.detail) for r in results] == [
            ("failed", "endpoint answered 400: ok"),
            ("failed", "fault 17: no"),
            ("failed", "trackback error: nope"),
        ]
        endpoints.pingback_fault = 0x0030  # already registered is success
        [result] = send_linkbacks(
            OURS, html=page_linking(base, "/pb-page"), allow_private_networks=True, host_delay=0
        )
        assert (result.outcome, result.detail) == ("sent", "already registered")


def test_private_addresses_refused_by_default(tmp_path: Path) -> None:
    endpoints = Endpoints()
    with serve(endpoints) as base:
        [result] = send_linkbacks(OURS, html=page_linking(base, "/wm-page"), host_delay=0)
        assert result.outcome == "failed" and result.detail.startswith("refused")
        assert endpoints.received == []


def test_cli_send(tmp_path: Path) -> None:
    endpoints = Endpoints()
    db = str(tmp_path / "cli.db")
    page = tmp_path / "post.html"
    runner = CliRunner()
    with serve(endpoints) as base:
        page.write_text(page_linking(base, "/wm-page", "/plain"))
        args = [
            "--db",
            db,
            "send",
            OURS,
            "--html",
            str(page),
            "--allow-private-networks",
            "--delay",
            "0",
        ]
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        assert "sent" in result.output and "no-endpoint" in result.output
        assert "1 no-endpoint, 1 sent" in result.output
        again = runner.invoke(main, [*args, "--json"])
        assert again.exit_code == 0
        assert [r["outcome"] for r in json.loads(again.stdout)] == ["unchanged", "unchanged"]
        page.write_text(page_linking(base, "/missing"))
        failed = runner.invoke(main, args)
        assert failed.exit_code == 1
        assert "target answered 404" in failed.output
        only = runner.invoke(main, [*args, "--protocol", "pingback", "--force"])
        assert only.exit_code == 1
    empty = tmp_path / "empty.html"
    empty.write_text("<p>no links</p>")
    result = runner.invoke(main, ["--db", db, "send", OURS + "/other", "--html", str(empty)])
    assert result.exit_code == 0 and "No outbound links" in result.output


def test_cli_send_fetches_the_page(tmp_path: Path) -> None:
    endpoints = Endpoints()
    with serve(endpoints) as base:
        pages = {"/mine": page_linking(base, "/wm-page")}

        @Request.application
        def mine(request: Request) -> Response:
            return Response(
                pages.get(request.path, ""),
                content_type="text/html",
                status=200 if request.path in pages else 404,
            )

        with serve(mine) as own:
            result = CliRunner().invoke(
                main,
                [
                    "--db",
                    str(tmp_path / "f.db"),
                    "send",
                    own + "/mine",
                    "--allow-private-networks",
                    "--delay",
                    "0",
                ],
            )
            assert result.exit_code == 0, result.output
            assert endpoints.received[0][1][1]["source"] == own + "/mine"
            missing = CliRunner().invoke(
                main,
                ["--db", str(tmp_path / "f.db"), "send", own + "/nope", "--allow-private-networks"],
            )
            assert missing.exit_code == 1 and "answered 404" in missing.output
