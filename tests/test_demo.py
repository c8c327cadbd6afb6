"""The demo's scenario end to end, without the interactive server loop."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from linkback import Store
from linkback.demo import backfill, create_login, simulate, start, verify


@pytest.fixture
def demo(tmp_path: Path):
    running = start(str(tmp_path / "demo"), port=0)
    yield running
    running.stop()


def by_source(rows: list[dict], fragment: str) -> dict:
    matches = [row for row in rows if fragment in row["source"] or fragment in row["permalink"]]
    assert len(matches) == 1, [row["source"] for row in rows]
    return matches[0]


def test_scenario_shows_verified_linkbacks_with_permalinks(demo):
    sent = simulate(demo)
    assert sent == {"visitors": 54, "replayed": 400, "bot": 5, "spoofed": 3}
    assert backfill(demo) > 0
    verify(demo)

    store = Store(demo.database)
    rows = store.linkbacks()
    alice, bob, news = demo.referrers.values()

    # The visits came from Alice's front page; the linkback is keyed on the entry's permalink.
    front = by_source(rows, alice)
    assert front["permalink"] == alice + "/2026/11/backlinks-at-last.html"
    assert front["status"] == "verified"
    assert front["title"] == "Backlinks at last"

    single = by_source(rows, "/posts/backlinks-are-back.html")
    assert single["status"] == "verified"
    assert single["title"] == "Backlinks are back"

    # The spoofed Referer's page does not link here.
    spoofed = by_source(rows, "/posts/unrelated.html")
    assert spoofed["status"] == "unverified"

    # One client replaying the discussion's Referer 400 times gains nothing.
    discussed = by_source(rows, news)
    assert discussed["status"] == "verified"
    assert discussed["fraud_pct"] > 50
    assert discussed["recency_bias"] > 0  # the generated history grows towards today

    # The bot's visits were not counted: Bob's post got exactly its nine readers today.
    assert single["hits"] == 9

    session = requests.Session()
    session.trust_env = False  # loopback only: never through a proxy from the environment
    page = session.get(demo.post("hello-linkback"), timeout=10).text
    assert alice + "/2026/11/backlinks-at-last.html" in page
    assert "Backlinks at last" in page
    assert "unrelated.html" not in page
    assert "Gardening in November" not in page

    page = session.get(demo.post("permalinks"), timeout=10).text
    assert "Backlinks are back" in page


def test_demo_login_opens_the_manager(demo):
    create_login(demo)
    session = requests.Session()
    session.trust_env = False
    login = session.get(demo.admin + "login", timeout=10)
    assert login.status_code == 200
    token = login.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    answer = session.post(
        demo.admin + "login",
        data={"name": demo.username, "password": demo.password, "csrf": token},
        timeout=10,
    )
    assert answer.status_code == 200
    assert "Log out" in answer.text or "Sign out" in answer.text


def test_linkback_demo_prints_where_to_look_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    command = [sys.executable, "-m", "linkback", "demo", "--port", "0", "--dir", str(tmp_path / "d")]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=dict(os.environ, PYTHONUNBUFFERED="1")) as child:
        assert child.stdout is not None
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        output = "".join(lines)
        assert "Press Ctrl-C to stop." in output, output
        assert "/posts/hello-linkback" in output and "/.linkback/admin/" in output
        assert "log in as demo / " in output
        child.send_signal(signal.SIGINT)
        rest, _ = child.communicate(timeout=30)
        assert child.returncode == 0, rest
    assert "Stopping." in rest
    assert "Traceback" not in output + rest
    # The terminal says what happened to an earlier run's database.
    assert "fresh database; --keep reuses the last one" in output
