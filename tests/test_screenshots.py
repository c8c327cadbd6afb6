"""Screenshots of the example pages with a populated block, light and dark, in Chromium.

Saved to ``screenshots/`` (git-ignored) for a person to look at; the assertions only check
that the block is there, styled, and shows nothing it must not.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BROWSER_UA, ROOT
from servers import serve

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples import flask_app, static_site  # noqa: E402
from examples.sample_data import populate  # noqa: E402
from examples.static_site.serve import create_app as create_static_app  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.browser]

assert static_site  # the package of the static example

VIEWPORTS = {"desktop": {"width": 1100, "height": 900}, "mobile": {"width": 390, "height": 844}}


@pytest.fixture
def blog(db_path: str) -> Iterator[str]:
    app = flask_app.create_app(db_path, crawl=False)
    try:
        with serve(app) as base:
            populate(db_path, base)
            yield base
    finally:
        app.extensions["linkback"].close()


def shoot(browser: Any, url: str, path: Path, scheme: str, viewport: str, wait: str) -> Any:
    page = browser.new_page(viewport=VIEWPORTS[viewport], color_scheme=scheme, user_agent=BROWSER_UA)
    page.goto(url)
    page.wait_for_selector(wait, timeout=10_000)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(path), full_page=True)
    return page


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
def test_flask_post(browser: Any, blog: str, screenshot_dir: Path, scheme: str, viewport: str) -> None:
    path = screenshot_dir / ("flask-post-%s-%s.png" % (viewport, scheme))
    page = shoot(browser, blog + "/posts/hello-linkback", path, scheme, viewport, ".linkbacks__item")
    try:
        assert page.locator(".linkbacks__item").count() == 5
        assert page.locator(".linkbacks__badge").count() == 2
        assert "NOT SHOWN" not in page.content()
        # Styled by the default stylesheet, and inside the viewport on a phone.
        box = page.locator(".linkbacks").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORTS[viewport]["width"]
        background = page.eval_on_selector(".linkbacks__mark", "e => getComputedStyle(e).backgroundColor")
        assert background not in ("rgba(0, 0, 0, 0)", "transparent")
    finally:
        page.close()
    assert path.stat().st_size > 10_000


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_flask_index(browser: Any, blog: str, screenshot_dir: Path, scheme: str) -> None:
    path = screenshot_dir / ("flask-index-%s.png" % scheme)
    page = shoot(browser, blog + "/", path, scheme, "desktop", ".linkbacks__badge")
    try:
        assert page.locator(".linkbacks__badge").count() == 3
    finally:
        page.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_static_page(browser: Any, db_path: str, screenshot_dir: Path, scheme: str) -> None:
    front = create_static_app(db_path, crawl=False)
    try:
        with serve(front) as base:
            populate(db_path, base)
            path = screenshot_dir / ("static-post-%s.png" % scheme)
            page = shoot(browser, base + "/posts/static-pages.html", path, scheme, "desktop",
                         ".linkbacks__item")
            try:
                assert page.locator(".linkbacks__item").count() == 1
            finally:
                page.close()
    finally:
        front.linkback.close()
