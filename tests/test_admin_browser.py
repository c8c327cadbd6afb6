"""The Linkback manager end to end in a real headless Chromium, beside the example blog.

Logs in, adds a blacklist pattern, hides a linkback, and checks that both disappear from
the public block of the example site. A screenshot of every admin page is saved to
``screenshots/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BROWSER_UA, ROOT
from servers import serve
from werkzeug.security import generate_password_hash

from linkback.store import Store

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples import flask_app  # noqa: E402
from examples.sample_data import populate  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PASSWORD = "correct horse battery"
POST = "/posts/hello-linkback"
ADMIN = "/.linkback/admin"


@pytest.fixture
def blog(db_path: str) -> Iterator[str]:
    store = Store(db_path)
    store.create_user("alice", generate_password_hash(PASSWORD))
    app = flask_app.create_app(db_path, crawl=False)
    try:
        with serve(app) as base:
            populate(store, base)
            # Some traffic history for the detail page's chart.
            target = base + POST
            for day, hits in (("2026-11-12", 30), ("2026-11-13", 12), ("2026-11-15", 55), ("2026-11-18", 8)):
                store.record_hits({("https://alice.example/2026/11/who-links-here", target,
                                    "127.0.0.1", day): (hits, {n % 9: 1 for n in range(hits)})})
            store.close()
            yield base
    finally:
        app.extensions["linkback"].close()


def shot(page: Any, directory: Path, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(directory / ("admin-%s.png" % name)), full_page=True)


def public_block(page: Any, base: str) -> str:
    page.goto(base + POST)
    return page.inner_text("section.linkbacks")


def test_log_in_blacklist_hide_and_see_it_gone(browser: Any, blog: str, screenshot_dir: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, user_agent=BROWSER_UA)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    before = public_block(page, blog)
    assert "Backlinks are back" in before and "Who links here?" in before

    page.goto(blog + ADMIN + "/")
    assert page.url.startswith(blog + ADMIN + "/login")
    shot(page, screenshot_dir, "login")
    page.fill("input[name=name]", "alice")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    assert "Wrong user name or password" in page.inner_text("main")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:text('Overview')")
    shot(page, screenshot_dir, "overview")

    # Blacklist bob.example: preview first, then add.
    page.goto(blog + ADMIN + "/blacklist")
    page.fill("input[name=pattern]", "bob.example")
    page.click("button[value=preview]")
    assert "would be hidden" in page.inner_text(".preview-matches")
    shot(page, screenshot_dir, "blacklist-preview")
    page.click("button[value=add]")
    assert "Added bob.example" in page.inner_text("main")
    shot(page, screenshot_dir, "blacklist")

    # Hide Alice's linkback from the table.
    page.goto(blog + ADMIN + "/linkbacks")
    shot(page, screenshot_dir, "linkbacks")
    row = page.locator("tr", has_text="Who links here?")
    row.locator("input[name=id]").check()
    page.click("button[value=hide]")
    assert "1 hidden." in page.inner_text("main")

    after = public_block(page, blog)
    assert "Backlinks are back" not in after
    assert "Who links here?" not in after
    assert "Notes from a weekend of IndieWeb tinkering" in after  # the rest is still there

    # The other pages, for the screenshots (and to see that they render).
    page.goto(blog + ADMIN + "/linkbacks?status=hidden")
    page.click("text=Who links here?")
    page.wait_for_selector("svg.chart")
    shot(page, screenshot_dir, "linkback-detail")
    page.goto(blog + ADMIN + "/sites")
    shot(page, screenshot_dir, "sites")
    page.click("text=Settings")
    page.wait_for_selector("#preview section.linkbacks")
    page.fill("input[name=heading]", "Mentions elsewhere")
    # Our CSP forbids eval, so wait on a selector rather than a JavaScript predicate.
    page.locator("#preview .linkbacks__heading", has_text="Mentions elsewhere").wait_for()
    shot(page, screenshot_dir, "site")
    page.goto(blog + ADMIN + "/account")
    shot(page, screenshot_dir, "account")
    page.goto(blog + ADMIN + "/linkbacks/999999")
    shot(page, screenshot_dir, "not-found")

    page.goto(blog + ADMIN + "/")
    page.click("text=Log out")
    page.goto(blog + ADMIN + "/linkbacks")
    assert "/login" in page.url
    # 401/404 answers log "Failed to load resource"; anything else (a CSP refusal, a script
    # error) is a bug.
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []
    context.close()


def test_mobile_layout(browser: Any, blog: str, screenshot_dir: Path) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, user_agent=BROWSER_UA)
    page = context.new_page()
    page.goto(blog + ADMIN + "/login")
    page.fill("input[name=name]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(blog + ADMIN + "/linkbacks")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1  # the table scrolls inside its box, not the page
    shot(page, screenshot_dir, "linkbacks-mobile")
    context.close()
