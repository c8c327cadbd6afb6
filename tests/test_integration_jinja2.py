"""Jinja2: the ``linkbacks`` global and filter, in the example and in a bare environment."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from conftest import ROOT
from jinja2 import Environment
from werkzeug.test import Client

from linkback import LinkbackMiddleware
from linkback.contrib.jinja2 import install
from linkback.store import Store

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.jinja2_app import create_app  # noqa: E402


@pytest.fixture
def app(db_path: str) -> Iterator[LinkbackMiddleware]:
    app = create_app(db_path, crawl=False)
    yield app
    app.close()


def test_example_renders_its_linkbacks(app: LinkbackMiddleware, db_path: str) -> None:
    store = Store(db_path)
    store.add_linkback("https://a.example/", "http://localhost/notes/second", status="verified",
                       title="A <b>bold</b> claim")
    store.close()
    client = Client(app)
    page = client.get("/notes/second").get_data(as_text=True)
    assert "A &lt;b&gt;bold&lt;/b&gt; claim" in page
    assert client.get("/notes/hello-linkback").status_code == 200
    assert 'class="linkbacks"' not in client.get("/").get_data(as_text=True)


def test_global_and_filter_with_a_database_path(db_path: str) -> None:
    store = Store(db_path)
    store.add_linkback("https://a.example/", "https://example.com/p", status="verified", title="T")
    store.add_linkback("https://news.ycombinator.com/item?id=5", "https://example.com/p",
                       status="verified", kind="discussion", points=7)
    store.close()
    env = Environment(autoescape=True)
    install(env, db_path, heading="Mentions")
    out = env.from_string(
        "{{ linkbacks(u) }}|{{ u|linkbacks(heading='Filter') }}|{{ linkback_discussions(u) }}"
    ).render(u="https://example.com/p")
    block, filtered, badges = out.split("|")
    assert "Mentions" in block and ">T<" in block
    assert "Filter" in filtered
    assert "7 points" in badges and "linkbacks__item" not in badges
