from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from capture_support import hits_for
from click.testing import CliRunner

from linkback.cli import main
from linkback.store import LINKBACK_FIELDS, Store

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
README = Path(__file__).resolve().parent.parent / "README.md"


def clients(n: int) -> list[tuple[str, str]]:
    return [("198.51.100.%d" % i, UA) for i in range(n)]


@pytest.fixture
def populated(db_path: str) -> str:
    store = Store(db_path)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    store.record_hits(hits_for("https://blog.example.org/a", "https://example.com/post", today, clients(5), b"k" * 32))
    store.record_hits(hits_for("https://news.example.net/1", "https://example.com/post", today, clients(9), b"k" * 32))
    store.record_hits(hits_for("https://blog.example.org/a", "https://example.com/other", today, clients(2), b"k" * 32))
    store.conn.execute("UPDATE linkbacks SET status = 'verified', title = 'Café ☕' WHERE source LIKE '%news%'")
    store.close()
    return db_path


def run(*args: str) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_linkbacks_table(populated: str) -> None:
    result = run("--db", populated, "linkbacks")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["status", "kind", "hits"]
    assert len(lines) == 4
    assert "https://news.example.net/1" in lines[1]  # highest value first


def test_linkbacks_json_has_exactly_the_fields(populated: str) -> None:
    result = run("--db", populated, "linkbacks", "--json")
    assert result.exit_code == 0
    items = json.loads(result.stdout)
    assert len(items) == 3
    for item in items:
        assert tuple(item) == LINKBACK_FIELDS
    first = items[0]
    assert (first["source"], first["status"], first["title"], first["hits"]) == (
        "https://news.example.net/1", "verified", "Café ☕", 9,
    )
    assert isinstance(first["fraud_pct"], float) and isinstance(first["recency_bias"], float)


def test_linkbacks_by_url_and_status(populated: str) -> None:
    result = run("--db", populated, "linkbacks", "--url", "HTTPS://EXAMPLE.com/post#x", "--json")
    assert {i["source"] for i in json.loads(result.stdout)} == {
        "https://blog.example.org/a", "https://news.example.net/1",
    }
    result = run("--db", populated, "linkbacks", "--status", "verified", "--json")
    assert [i["source"] for i in json.loads(result.stdout)] == ["https://news.example.net/1"]
    result = run("--db", populated, "linkbacks", "--status", "hidden")
    assert result.stdout.strip() == "No linkbacks."


def test_database_from_the_environment(populated: str) -> None:
    result = CliRunner(env={"LINKBACK_DB": populated}).invoke(main, ["linkbacks", "--json"])
    assert len(json.loads(result.stdout)) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--db", "{missing}", "linkbacks"], "no database at", id="missing database"),
        pytest.param(["--db", "{text}", "linkbacks"], "not a database", id="not a database"),
        pytest.param(["--db", "{dir}", "linkbacks"], "is a directory", id="directory"),
        pytest.param(["--db", "{db}", "linkbacks", "--status", "great"], "Invalid value for '--status'", id="bad status"),
        pytest.param(["--db", "{db}", "linkbacks", "--url", "javascript:x"], "not an http(s) URL", id="bad url"),
        pytest.param(["--db", "{db}", "linkbacks", "--bogus"], "No such option", id="unknown option"),
    ],
)
def test_errors_are_one_line_without_traceback(tmp_path: Path, populated: str, args: list[str], message: str) -> None:
    text = tmp_path / "notes.txt"
    text.write_bytes(b"plain text, not sqlite " * 200)
    values = {"missing": str(tmp_path / "none.db"), "text": str(text), "dir": str(tmp_path), "db": populated}
    result = CliRunner().invoke(main, [a.format(**values) for a in args])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and message in errors[0], result.output


def test_capture_commands_and_options_are_documented() -> None:
    section = README.read_text(encoding="utf-8").split("<!-- section:capture -->", 1)[1].split("\n## ", 1)[0]
    for command in ("linkbacks", "import-log"):
        assert "linkback %s" % command in section or "`%s`" % command in section
        for param in main.commands[command].params:
            for opt in param.opts:
                if opt.startswith("--"):
                    assert opt in section, "%s %s is not in the README" % (command, opt)
