"""A static page in a real browser: the embed script fills the block and the beacon counts."""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest
from conftest import BROWSER_UA, ROOT
from servers import serve

from linkback.store import Store

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.sample_data import populate  # noqa: E402
from examples.static_site.serve import create_app  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def wait_for(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def test_script_loads_the_block_and_beacon_counts(browser: Any, db_path: str) -> None:
    front = create_app(db_path, crawl=False)
    try:
        with serve(front) as base:
            populate(db_path, base)
            # Headless Chromium says so in its user agent, and the bot filter would skip it.
            page = browser.new_page(user_agent=BROWSER_UA)
            events: list[str] = []
            page.on("console", lambda message: events.append(message.text))
            page.goto(base + "/posts/static-pages.html", referer="https://carol.example/notes/static-sites")
            page.wait_for_selector(".linkbacks__item", timeout=10_000)
            assert page.locator(".linkbacks__title").all_inner_texts() == [
                "Static sites can have backlinks too"
            ]
            assert "Discussed on Reddit" in page.locator(".linkbacks__badge").inner_text()
            # The script linked the stylesheet: the block is styled.
            radius = page.eval_on_selector(".linkbacks", "e => getComputedStyle(e).borderTopLeftRadius")
            assert radius == "12px"
            page.close()

            def beaconed() -> list[dict[str, Any]]:
                front.linkback.flush()
                store = Store(db_path)
                rows = [r for r in store.linkbacks(status="pending") if "carol" in r["source"]]
                store.close()
                return rows

            rows = wait_for(beaconed)
            assert [(r["source"], r["target"]) for r in rows] == [
                ("https://carol.example/notes/static-sites", base + "/posts/static-pages.html")
            ]
            assert not [e for e in events if "error" in e.lower()]
    finally:
        front.linkback.close()


def test_no_beacon_without_an_external_referrer(browser: Any, db_path: str) -> None:
    front = create_app(db_path, crawl=False)
    try:
        with serve(front) as base:
            page = browser.new_page(user_agent=BROWSER_UA)
            page.goto(base + "/")
            page.goto(base + "/posts/static-pages.html")  # referrer: our own front page
            page.wait_for_load_state("networkidle")
            page.close()
            front.linkback.flush()
            store = Store(db_path)
            assert store.linkbacks() == []
            store.close()
    finally:
        front.linkback.close()
