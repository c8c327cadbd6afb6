from __future__ import annotations

import datetime as dt
import gzip
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import BROWSER_UA

from linkback.cli import main
from linkback.config import Options
from linkback.filters import HitFilter
from linkback.logs import ImportSummary, import_log, open_log
from linkback.store import Store

TODAY = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def line(
    referer: str = "https://blog.example.org/entry",
    *,
    path: str = "/post",
    method: str = "GET",
    status: int = 200,
    agent: str = BROWSER_UA,
    address: str = "203.0.113.5",
    back: int = 0,
) -> str:
    moment = (TODAY - dt.timedelta(days=back)).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return '%s - - [%s] "%s %s HTTP/1.1" %d 5120 "%s" "%s"' % (
        address, moment, method, path, status, referer, agent,
    )


SAMPLE = [
    line(),
    line(address="203.0.113.6"),
    line("https://news.example.net/item?id=1&utm_source=x", path="/other?page=2", back=3),
    line("-"),
    line(""),
    line(method="POST"),
    line(method="HEAD"),
    line(status=404),
    line(status=301),
    line(path="/style.css"),
    line(path="/logo.PNG"),
    line(agent="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
    line("https://www.example.com/"),
    line("https://spam.example/"),
    line("http://127.0.0.1:8000/"),
    line("android-app://com.slack/"),
    "garbage that is not a log line",
    '203.0.113.5 - - [not a time] "GET /post HTTP/1.1" 200 1 "https://blog.example.org/" "%s"' % BROWSER_UA,
]

EXPECTED_SKIPS = {
    "no-referrer": 2, "not-get": 2, "not-2xx": 2, "not-page": 2, "bot": 1, "internal": 1,
    "blacklisted": 1, "private-referrer": 1, "not-http": 1, "malformed": 2,
}


def write(path: Path, lines: list[str], compress: bool = False) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def test_import_log_function(db_path: str) -> None:
    store = Store(db_path)
    store.add_blacklist("spam.example")
    hit_filter = HitFilter(Options.from_kwargs(sites=["example.com"]))
    hit_filter.set_extra_patterns(["spam.example"])
    summary = import_log(store, io.BytesIO("\n".join(SAMPLE).encode()), hit_filter)
    assert (summary.lines, summary.counted, summary.new_linkbacks) == (len(SAMPLE), 3, 2)
    assert dict(summary.skipped) == EXPECTED_SKIPS
    rows = {r["target"]: r for r in store.linkbacks()}
    post = rows["https://example.com/post"]
    assert (post["source"], post["hits"], post["visitors"]) == ("https://blog.example.org/entry", 2, pytest.approx(2, abs=0.1))
    other = rows["https://example.com/other?page=2"]
    assert other["source"] == "https://news.example.net/item?id=1"
    assert other["first_seen"] == (TODAY - dt.timedelta(days=3)).strftime("%Y-%m-%dT00:00:00Z")
    assert [d["day"] for d in store.daily(other["id"])] == [(TODAY - dt.timedelta(days=3)).strftime("%Y-%m-%d")]
    store.close()


def test_history_gives_recency(db_path: str) -> None:
    """A linkback that sent everyone on its first day, years of logs ago, starts faded."""
    lines = [line(address="198.51.100.%d" % i, back=30) for i in range(40)]
    store = Store(db_path)
    import_log(store, io.BytesIO("\n".join(lines).encode()), HitFilter(Options.from_kwargs(sites=["example.com"])))
    (row,) = store.linkbacks()
    assert (row["hits"], row["recency_bias"]) == (40, -10)
    store.close()


def test_visitors_split_over_rotated_logs_are_one(db_path: str, tmp_path: Path) -> None:
    first = write(tmp_path / "access.log.2", [line(address="198.51.100.1", back=2)] * 3)
    second = write(tmp_path / "access.log.1", [line(address="198.51.100.1", back=2)] * 3)
    result = CliRunner().invoke(main, ["--db", db_path, "import-log", str(first), str(second), "--site", "example.com"])
    assert result.exit_code == 0, result.output
    store = Store(db_path)
    (row,) = store.linkbacks()
    assert (row["hits"], row["visitors"]) == (6, pytest.approx(1, abs=0.01))
    store.close()


def test_cli_plain_and_gzip(db_path: str, tmp_path: Path) -> None:
    plain = write(tmp_path / "access.log", SAMPLE)
    packed = write(tmp_path / "access.log.1.gz", [line(address="198.51.100.%d" % i, back=1) for i in range(20)], compress=True)
    runner = CliRunner()
    result = runner.invoke(main, ["--db", db_path, "import-log", str(plain), str(packed), "--site", "example.com"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Lines read:      %d" % (len(SAMPLE) + 20) in out
    assert "Hits counted:    24" in out  # spam.example is not blacklisted here
    assert "Skipped:         %d" % (sum(EXPECTED_SKIPS.values()) - 1) in out
    assert "not-page" in out and "malformed" in out
    assert "Importing" in result.output  # the progress bar, on stderr
    store = Store(db_path)
    assert sum(r["hits"] for r in store.linkbacks()) == 24
    assert [s["host"] for s in store.sites()] == ["example.com"]
    store.close()


def test_blacklist_file_option(db_path: str, tmp_path: Path) -> None:
    log = write(tmp_path / "access.log", [line("https://www.spam.example/"), line()])
    spam = tmp_path / "spammers.txt"
    spam.write_text("spam.example\n")
    result = CliRunner().invoke(main, ["--db", db_path, "import-log", str(log), "--site", "example.com",
                                       "--blacklist-file", str(spam), "--scheme", "http"])
    assert result.exit_code == 0, result.output
    assert "blacklisted       1" in result.stdout
    store = Store(db_path)
    assert [r["target"] for r in store.linkbacks()] == ["http://example.com/post"]
    store.close()


def test_large_log_is_streamed(db_path: str, tmp_path: Path) -> None:
    """60,000 lines, more than one in-memory flush, from a gzip file read line by line."""
    lines = [line("https://blog%d.example.org/" % (i % 50), path="/p%d" % (i % 7),
                  address="198.51.%d.%d" % (i // 250 % 250, i % 250), back=i % 5) for i in range(60_000)]
    log = write(tmp_path / "big.log.gz", lines, compress=True)
    store = Store(db_path)
    with open_log(str(log)) as stream:
        read: list[int] = []
        summary = import_log(store, stream, HitFilter(Options.from_kwargs(sites=["example.com"])),
                             progress=read.append, summary=ImportSummary())
    assert summary.counted == 60_000
    assert sum(read) == log.stat().st_size
    assert sum(r["hits"] for r in store.linkbacks()) == 60_000
    assert store.count_linkbacks() == 50 * 7
    store.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["{missing}", "--site", "example.com"], "no such file", id="missing file"),
        pytest.param(["{corrupt}", "--site", "example.com"], "cannot read", id="corrupt gzip"),
        pytest.param(["{log}", "--site", "not a host"], "sites", id="bad site"),
        pytest.param(["{log}"], "Missing option '--site'", id="no site"),
        pytest.param([], "Missing argument", id="no file"),
        pytest.param(["{log}", "--site", "example.com", "--blacklist-file", "{missing}"], "no such file", id="missing blacklist"),
        pytest.param(["{log}", "--site", "example.com", "--scheme", "gopher"], "Invalid value for '--scheme'", id="bad scheme"),
    ],
)
def test_errors(db_path: str, tmp_path: Path, args: list[str], message: str) -> None:
    log = write(tmp_path / "access.log", [line()])
    corrupt = tmp_path / "broken.log.gz"
    corrupt.write_bytes(gzip.compress(b"x" * 10_000)[:40] + b"\x00garbage" * 50)
    values = {"missing": str(tmp_path / "nope.log"), "corrupt": str(corrupt), "log": str(log)}
    result = CliRunner().invoke(main, ["--db", db_path, "import-log"] + [a.format(**values) for a in args])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    errors = [x for x in result.output.splitlines() if x.startswith("Error")]
    assert len(errors) == 1 and message in errors[0], result.output


def test_unwritable_database(tmp_path: Path) -> None:
    log = write(tmp_path / "access.log", [line()])
    result = CliRunner().invoke(main, ["--db", str(tmp_path / "no" / "dir.db"), "import-log", str(log), "--site", "example.com"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: no such directory")
