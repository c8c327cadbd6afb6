"""Flask: the example blog and the extension, through Flask's own test client."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import BROWSER_UA, ROOT
from flask import Flask, render_template_string

from linkback import LinkbackMiddleware
from linkback.contrib.flask import Linkback
from linkback.store import Store

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.flask_app import POSTS, create_app  # noqa: E402
from examples.sample_data import populate  # noqa: E402


@pytest.fixture
def app(db_path: str) -> Iterator[Flask]:
    app = create_app(db_path, crawl=False)
    populate(db_path, "http://localhost")
    yield app
    app.extensions["linkback"].close()


def test_post_page_shows_its_verified_linkbacks(app: Flask) -> None:
    page = app.test_client().get("/posts/hello-linkback").get_data(as_text=True)
    assert "Who links here?" in page and "Backlinks are back" in page
    assert "Discussed on Hacker News" in page and "128 points" in page
    assert "NOT SHOWN" not in page
    assert '<link rel="stylesheet" href="/.linkback/linkbacks.css">' in page
    assert page.index('class="linkbacks"') < page.index('class="comments"')


def test_every_post_renders(app: Flask) -> None:
    client = app.test_client()
    for slug in POSTS:
        assert client.get("/posts/%s" % slug).status_code == 200
    assert client.get("/posts/missing").status_code == 404
    index = client.get("/").get_data(as_text=True)
    assert "Discussed on Reddit" in index and "312 points" in index


def test_quiet_post_shows_no_block(app: Flask) -> None:
    page = app.test_client().get("/posts/quiet-post").get_data(as_text=True)
    assert 'class="linkbacks"' not in page


def test_visits_are_counted(app: Flask, db_path: str) -> None:
    client = app.test_client()
    client.get("/posts/privacy", headers={"Referer": "https://reader.example/list",
                                          "User-Agent": BROWSER_UA})
    app.extensions["linkback"].flush()
    store = Store(db_path)
    rows = [(r["source"], r["target"]) for r in store.linkbacks(status="pending")]
    store.close()
    assert ("https://reader.example/list", "http://localhost/posts/privacy") in rows


def test_middleware_endpoints_are_served(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/.linkback/linkbacks.css").status_code == 200
    data = client.get("/.linkback/api/linkbacks?url=http://localhost/posts/static-pages").get_json()
    assert data["count"] == 1


def test_init_app_pattern_and_config(db_path: str) -> None:
    extension = Linkback(crawl=False)
    app = Flask(__name__)
    app.config["LINKBACK"] = {"database": db_path, "sites": ["localhost"], "display": {"heading": "Mentions"}}
    middleware = extension.init_app(app)
    try:
        assert isinstance(app.wsgi_app, LinkbackMiddleware)
        assert app.extensions["linkback"] is middleware and middleware.database == db_path
        Store(db_path).add_linkback("https://a.example/", "http://localhost/x", status="verified",
                                    title="Filtered")
        with app.test_request_context("/x"):
            default = render_template_string("{{ linkbacks() }}")
            explicit = render_template_string("{{ 'http://localhost/x'|linkbacks(heading='Other') }}")
            css = render_template_string("<style>{{ linkback_stylesheet() }}</style>")
        assert "Mentions" in default and "Filtered" in default
        assert "Other" in explicit
        assert ".linkbacks__title" in css and "&#34;" not in css
    finally:
        middleware.close()


def test_flask_cli_group(app: Flask, db_path: str) -> None:
    result = app.test_cli_runner().invoke(args=["linkback", "linkbacks", "--status", "verified", "--json"])
    assert result.exit_code == 0, result.output
    items: list[dict[str, Any]] = json.loads(result.output)
    assert len(items) == sum(1 for i in items if i["status"] == "verified") > 5
