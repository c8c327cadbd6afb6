"""Screenshots of the demo for the README: the linkback block and the manager.

Saved to ``screenshots/`` on every run; with ``LINKBACK_DOCS_SCREENSHOTS=1`` (``make
docs-screenshots``) also to ``docs/``, where the README shows them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from linkback.demo import backfill, create_login, simulate, start, verify

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_demo_screenshots(browser: Any, tmp_path: Path, screenshot_dir: Path) -> None:
    demo = start(str(tmp_path / "demo"), port=0)
    try:
        simulate(demo)
        backfill(demo)
        verify(demo)
        create_login(demo)
        context = browser.new_context(viewport={"width": 820, "height": 760}, device_scale_factor=1)
        page = context.new_page()
        page.goto(demo.post("hello-linkback"))
        block = page.locator("section.linkbacks")
        assert "Backlinks at last" in block.inner_text()
        block_png = screenshot_dir / "docs-block.png"
        page.screenshot(path=str(block_png), clip=_around(block.bounding_box(), page))

        page.set_viewport_size({"width": 1280, "height": 760})
        page.goto(demo.admin)
        page.fill("input[name=name]", demo.username)
        page.fill("input[name=password]", demo.password)
        page.click("button[type=submit]")
        page.goto(demo.admin + "linkbacks")
        assert "Backlinks at last" in page.inner_text("main")
        admin_png = screenshot_dir / "docs-admin.png"
        page.screenshot(path=str(admin_png))
        context.close()
    finally:
        demo.stop()
    if os.environ.get("LINKBACK_DOCS_SCREENSHOTS"):
        shutil.copyfile(block_png, ROOT / "docs" / "block.png")
        shutil.copyfile(admin_png, ROOT / "docs" / "admin.png")


def _around(box: dict[str, float] | None, page: Any) -> dict[str, float]:
    """The block with a margin, and the post's end above it for context."""
    assert box is not None
    top = max(0.0, box["y"] - 140)
    return {"x": 0, "y": top, "width": page.viewport_size["width"], "height": box["y"] - top + box["height"] + 24}
