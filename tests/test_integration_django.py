"""Django: the template tags through Django's test client, and the wrapped WSGI application."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
from conftest import BROWSER_UA, ROOT

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_site.settings")

import django  # noqa: E402

django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.template import Context, Template  # noqa: E402
from django.test import Client as DjangoClient  # noqa: E402
from django.test import override_settings  # noqa: E402
from werkzeug.test import Client  # noqa: E402

from linkback.contrib import django as linkback_django  # noqa: E402
from linkback.store import Store  # noqa: E402


@pytest.fixture
def settings_db(db_path: str) -> Iterator[str]:
    options = {"database": db_path, "sites": ["testserver", "localhost"], "display": {"limit": 10}}
    with override_settings(LINKBACK=options):
        yield db_path


def add(db_path: str, target: str, **columns: object) -> None:
    store = Store(db_path)
    columns.setdefault("status", "verified")
    store.add_linkback(str(columns.pop("source", "https://a.example/")), target, **columns)
    store.close()


def test_template_tag_through_django_test_client(settings_db: str) -> None:
    add(settings_db, "http://testserver/posts/hello-linkback/", title="Linked <i>from</i> A")
    add(settings_db, "http://testserver/posts/hello-linkback/", source="https://b.example/",
        title="Pending one", status="pending")
    response = DjangoClient().get("/posts/hello-linkback/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Linked &lt;i&gt;from&lt;/i&gt; A" in page
    assert "Pending one" not in page
    assert '<link rel="stylesheet" href="/.linkback/linkbacks.css">' in page
    assert DjangoClient().get("/").status_code == 200


def test_tag_arguments_and_other_tags(settings_db: str) -> None:
    add(settings_db, "http://testserver/p", title="First")
    add(settings_db, "http://testserver/p", source="https://news.ycombinator.com/item?id=3",
        kind="discussion", points=9)
    template = Template(
        "{% load linkback %}{% linkbacks url heading='Mentions' order='newest' %}"
        "|{% linkback_discussions url %}|{% linkback_stylesheet %}"
    )
    block, badges, css = template.render(Context({"url": "http://testserver/p"})).split("|")
    assert "Mentions" in block and "First" in block
    assert "9 points" in badges
    assert ".linkbacks__title" in css


def test_wrapped_application_counts_and_renders(settings_db: str) -> None:
    application = linkback_django.wrap(get_wsgi_application(), crawl=False)
    try:
        assert linkback_django.current_renderer() is application.renderer
        add(settings_db, "http://localhost/posts/second-post/", title="Through the wrapper")
        client = Client(application)
        page = client.get("/posts/second-post/", base_url="http://localhost",
                          headers={"Referer": "https://reader.example/", "User-Agent": BROWSER_UA})
        assert "Through the wrapper" in page.get_data(as_text=True)
        assert client.get("/.linkback/linkbacks.js").status_code == 200
        application.flush()
        store = Store(settings_db)
        assert [r["source"] for r in store.linkbacks(status="pending")] == ["https://reader.example/"]
        store.close()
    finally:
        application.close()
