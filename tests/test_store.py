from __future__ import annotations

import datetime as dt
import os
import sqlite3
import tempfile
from pathlib import Path

import pytest
from capture_support import hits_for
from hypothesis import given, settings
from hypothesis import strategies as st

from linkback import StoreError, counting
from linkback.store import LINKBACK_FIELDS, SCHEMA_VERSION, STATUSES, Store

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SOURCE = "https://blog.example.org/entry"
TARGET = "https://example.com/post"
TODAY = dt.date(2026, 3, 20)
NOW = dt.datetime(2026, 3, 20, 12, 0, tzinfo=dt.UTC)


def day(back: int) -> str:
    return (TODAY - dt.timedelta(days=back)).isoformat()


def clients(n: int, offset: int = 0) -> list[tuple[str, str]]:
    return [("198.51.%d.%d" % ((i + offset) // 256, (i + offset) % 256), UA) for i in range(n)]


@pytest.fixture
def store(db_path: str):
    store = Store(db_path)
    yield store
    store.close()


def test_schema_created_and_versioned(db_path: str) -> None:
    store = Store(db_path)
    assert store.schema_version == SCHEMA_VERSION >= 1
    tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"sites", "linkbacks", "daily", "jobs", "blacklist", "settings", "salts", "counters"} <= tables
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    again = Store(db_path)  # opening again migrates nothing
    assert again.schema_version == SCHEMA_VERSION
    again.close()


def test_newer_schema_is_refused(db_path: str) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = %d" % (SCHEMA_VERSION + 5))
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(db_path)


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(StoreError):
        Store(str(path))


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such directory"):
        Store(str(tmp_path / "absent" / "linkback.db"))


def test_record_hits_creates_pending_linkback_and_job(store: Store) -> None:
    created = store.record_hits(hits_for(SOURCE, TARGET, day(0), clients(3), b"k" * 32), now=NOW)
    assert created == 1
    (row,) = store.linkbacks(today=TODAY)
    assert set(LINKBACK_FIELDS) <= set(row)
    assert row["status"] == "pending" and row["status"] in STATUSES
    assert (row["source"], row["permalink"], row["target"], row["kind"]) == (SOURCE, SOURCE, TARGET, "referrer")
    assert (row["hits"], row["value"], row["visitors"]) == (3, 3, pytest.approx(3, abs=0.1))
    assert row["first_seen"] == row["last_seen"] == "2026-03-20T12:00:00Z"
    jobs = store.conn.execute("SELECT linkback_id, url FROM jobs").fetchall()
    assert [tuple(j) for j in jobs] == [(row["id"], SOURCE)]
    # The same pair again is the same linkback, with no second job.
    assert store.record_hits(hits_for(SOURCE, TARGET, day(0), clients(2, 100), b"k" * 32), now=NOW) == 0
    (row,) = store.linkbacks(today=TODAY)
    assert row["hits"] == 5
    assert store.conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1


def test_one_client_thousand_hits(store: Store) -> None:
    store.record_hits(hits_for(SOURCE, TARGET, day(0), [("203.0.113.9", UA)] * 1000, b"k" * 32), now=NOW)
    (row,) = store.linkbacks(today=TODAY)
    assert row["hits"] == 1000
    assert row["value"] <= 5
    assert row["fraud_pct"] >= 99


def test_two_hundred_clients(store: Store) -> None:
    store.record_hits(hits_for(SOURCE, TARGET, day(0), clients(200), b"k" * 32), now=NOW)
    (row,) = store.linkbacks(today=TODAY)
    assert row["value"] == pytest.approx(200, rel=0.10)
    assert row["visitors"] == pytest.approx(200, rel=0.10)
    assert row["fraud_pct"] <= 5


def test_batches_merge_like_one(db_path: str, tmp_path: Path) -> None:
    """Two processes writing halves of a day give the figures of one writer writing it all."""
    salt = b"k" * 32
    hits = clients(150) + [("203.0.113.9", UA)] * 300
    split = Store(db_path)
    split.record_hits(hits_for(SOURCE, TARGET, day(0), hits[:200], salt), now=NOW)
    split.record_hits(hits_for(SOURCE, TARGET, day(0), hits[200:], salt), now=NOW)
    whole = Store(str(tmp_path / "whole.db"))
    whole.record_hits(hits_for(SOURCE, TARGET, day(0), hits, salt), now=NOW)
    keys = ("hits", "value", "visitors", "fraud_pct")
    a, b = split.linkbacks(today=TODAY)[0], whole.linkbacks(today=TODAY)[0]
    assert {k: a[k] for k in keys} == {k: b[k] for k in keys}
    split.close()
    whole.close()


def test_daily_rows_and_history(store: Store) -> None:
    salt = b"k" * 32
    for back, n in ((3, 4), (1, 2), (0, 1)):
        store.record_hits(hits_for(SOURCE, TARGET, day(back), clients(n), salt), now=NOW)
    (row,) = store.linkbacks(today=TODAY)
    assert row["first_seen"] == day(3) + "T00:00:00Z"
    assert row["last_seen"] == "2026-03-20T12:00:00Z"
    assert [(d["day"], d["hits"]) for d in store.daily(row["id"])] == [(day(3), 4), (day(1), 2), (day(0), 1)]
    assert row["hits"] == 7


def _bias(store: Store, days: dict[int, int]) -> float:
    for back, n in days.items():
        store.record_hits(hits_for(SOURCE, TARGET, day(back), clients(n), b"k" * 32), now=NOW)
    (row,) = store.linkbacks(today=TODAY)
    return row["recency_bias"]


def test_recency_bias_all_on_first_day(store: Store) -> None:
    assert _bias(store, {20: 50}) == -10


def test_recency_bias_level(store: Store) -> None:
    assert _bias(store, {back: 10 for back in range(21)}) == pytest.approx(0, abs=0.5)


def test_recency_bias_growing(store: Store) -> None:
    growing = _bias(store, {back: 2 + 3 * (20 - back) for back in range(21)})
    assert 0 < growing <= 10


def test_recency_bias_on_the_first_day_is_zero(store: Store) -> None:
    assert _bias(store, {0: 10}) == 0


def test_salt_is_shared_and_forgotten(db_path: str) -> None:
    one, two = Store(db_path), Store(db_path)
    salt = one.salt("2026-03-19")
    assert len(salt) == 32
    assert two.salt("2026-03-19") == salt, "every process must hash with the same salt"
    today = two.salt("2026-03-20")
    assert today != salt
    days = [r[0] for r in one.conn.execute("SELECT day FROM salts")]
    assert days == ["2026-03-20"], "yesterday's salt must be deleted"
    one.close()
    two.close()


def test_ensure_sites(store: Store) -> None:
    store.ensure_sites(["example.com", "example.org"])
    store.ensure_sites(["example.com"])
    assert [s["host"] for s in store.sites()] == ["example.com", "example.org"]


def test_linkbacks_filters(store: Store) -> None:
    salt = b"k" * 32
    store.record_hits(hits_for(SOURCE, TARGET, day(0), clients(3), salt), now=NOW)
    store.record_hits(hits_for("https://news.example.net/1", TARGET, day(0), clients(9), salt), now=NOW)
    store.record_hits(hits_for(SOURCE, "https://example.com/other", day(0), clients(1), salt), now=NOW)
    assert [r["source"] for r in store.linkbacks(target=TARGET, today=TODAY)] == [
        "https://news.example.net/1", SOURCE,
    ]
    assert store.linkbacks(status="verified") == []
    assert len(store.linkbacks(status=["pending", "verified"])) == 3
    assert store.count_linkbacks(target=TARGET) == 2
    with pytest.raises(ValueError):
        store.linkbacks(order="nonsense")


def test_counters(store: Store) -> None:
    assert store.counter("dropped_hits") == 0
    store.add_counter("dropped_hits", 3)
    store.add_counter("dropped_hits", 4)
    assert store.counter("dropped_hits") == 7


def test_nothing_identifying_is_stored(store: Store, db_path: str) -> None:
    from capture_support import all_text

    store.record_hits(hits_for(SOURCE, TARGET, day(0), [("203.0.113.77", "UniqueAgent/9.9 Gecko")], b"k" * 32))
    text = all_text(db_path)
    assert "203.0.113.77" not in text
    assert "UniqueAgent" not in text


def test_concurrent_writers_wait_instead_of_failing(db_path: str) -> None:
    import threading

    Store(db_path).close()
    errors: list[BaseException] = []

    def write(n: int) -> None:
        store = Store(db_path)
        try:
            for i in range(20):
                store.record_hits(hits_for(SOURCE, TARGET, day(0), clients(5, n * 1000 + i * 5), b"k" * 32))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            store.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = Store(db_path)
    assert store.linkbacks()[0]["hits"] == 4 * 20 * 5
    store.close()


def test_backup_is_a_consistent_copy_while_open(db_path: str, tmp_path) -> None:
    store = Store(db_path)
    store.record_hits({("https://a.example/", "https://example.com/p", "example.com", "2026-01-02"): (3, {1: 2, 7: 1})})
    copy = str(tmp_path / "copy.db")
    store.backup(copy)
    restored = Store(copy)
    (row,) = restored.linkbacks()
    assert (row["source"], row["hits"]) == ("https://a.example/", 3)
    assert restored.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    restored.close()
    store.close()


# --- record_hits in bulk ----------------------------------------------------------------------


def _statements(store: Store, groups: dict) -> int:
    """How many statements ``store.record_hits(groups)`` runs."""
    seen: list[str] = []

    def trace(sql: str) -> None:
        # SQLite reports a statement once more before each trigger program it runs
        # (sqlite3_trace_v2, SQLITE_TRACE_STMT); those run inside the same step.
        if not seen or seen[-1] != sql:
            seen.append(sql)

    store.conn.set_trace_callback(trace)
    try:
        store.record_hits(groups, now=NOW)
    finally:
        store.conn.set_trace_callback(None)
    return len(seen)


def _batch(pairs: int) -> dict:
    return {
        ("https://s%d.example.org/entry" % i, "https://example.com/p%d" % (i % 40), "example.com", day(i % 3)):
            (3, {i % 4096: 2, (7 * i + 1) % 4096: 1})
        for i in range(pairs)
    }


def test_record_hits_statements_do_not_grow_with_the_batch(tmp_path: Path) -> None:
    """sqlite3 lets go of the GIL at every step into SQLite, and a busy thread can keep it
    for a switch interval each time: a batch must cost a few statements, not a few a pair."""
    counts = {}
    for pairs in (10, 3000):
        store = Store(str(tmp_path / ("%d.db" % pairs)))
        new = _statements(store, _batch(pairs))  # every pair a new linkback
        known = _statements(store, _batch(pairs))  # every pair and day stored already
        assert store.count_linkbacks() == pairs
        assert store.conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == pairs
        assert store.linkbacks(limit=1)[0]["hits"] == 6
        counts[pairs] = (new, known)
        store.close()
    assert counts[10] == counts[3000]
    assert max(counts[3000]) <= 12


def test_counting_a_hit_leaves_rendered_blocks_valid(store: Store) -> None:
    """The totals update sets only counting columns: the display triggers must not fire."""
    store.add_linkback(SOURCE, TARGET, status="verified", title="An entry")
    generation = store.counter("display_generation")
    assert store.record_hits(hits_for(SOURCE, TARGET, day(0), clients(4), b"k" * 32), now=NOW) == 0
    (row,) = store.linkbacks(today=TODAY)
    assert (row["status"], row["title"], row["hits"]) == ("verified", "An entry", 4)
    assert store.counter("display_generation") == generation


class SmallChunks(Store):
    """A store whose multi-row statements carry three rows, so a few groups span chunks."""

    _ROWS_PER_STATEMENT = 3


FRONT = "https://front.example/"
ENTRY = "https://front.example/2026/entry"  # the permalink the crawler found for FRONT
_group_keys = st.tuples(
    st.sampled_from(["https://a.example/1", "https://b.example/2", FRONT, ENTRY, "https://c.example/é"]),
    st.sampled_from([TARGET, "https://example.com/other"]),
    st.sampled_from(["example.com", "www.example.com"]),
    st.sampled_from([day(0), day(1), day(9)]),
)
_groups = st.dictionaries(
    _group_keys,
    st.tuples(st.integers(1, 60), st.dictionaries(st.integers(0, 4095), st.integers(1, 30), min_size=1, max_size=6)),
    max_size=14,
)


def _snapshot(store: Store) -> dict:
    conn = store.conn
    return {
        "linkbacks": [dict(r) for r in conn.execute(
            "SELECT id, site, source, permalink, target, kind, status, hits, value, visitors,"
            " first_seen, last_seen FROM linkbacks ORDER BY id")],
        "daily": [
            (r[0], r[1], r[2], r[3], r[4], counting.decode_bins(r[5]))
            for r in conn.execute("SELECT linkback_id, day, hits, value, visitors, bins FROM daily"
                                  " ORDER BY linkback_id, day")
        ],
        "referrers": sorted(tuple(r) for r in conn.execute("SELECT url, target, linkback_id FROM referrers")),
        "jobs": sorted(tuple(r) for r in conn.execute("SELECT linkback_id, url FROM jobs")),
    }


@settings(max_examples=60, deadline=None)
@given(before=_groups, groups=_groups)
def test_bulk_is_the_same_as_one_group_at_a_time(before: dict, groups: dict) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        base = Store(os.path.join(workdir, "base.db"))
        # FRONT led to a linkback whose entry was found at ENTRY: both URLs reach it.
        base.add_linkback(FRONT, TARGET, permalink=ENTRY, status="verified")
        base.record_hits(before, now=NOW)
        for name in ("bulk.db", "single.db"):
            base.backup(os.path.join(workdir, name))
        base.close()
        bulk = SmallChunks(os.path.join(workdir, "bulk.db"))
        single = Store(os.path.join(workdir, "single.db"))
        created = bulk.record_hits(groups, now=NOW)
        assert created == sum(single.record_hits({key: group}, now=NOW) for key, group in groups.items())
        one, other = _snapshot(bulk), _snapshot(single)
        bulk.close()
        single.close()
    # A total is a sum of per-day differences: the order of the additions may move its last bits.
    visitors = [[row.pop("visitors") for row in snapshot["linkbacks"]] for snapshot in (one, other)]
    assert visitors[0] == pytest.approx(visitors[1], rel=1e-9, abs=1e-9)
    assert one == other


def test_a_new_file_opened_while_another_connection_holds_it_still_gets_wal(db_path: str) -> None:
    import sqlite3
    import threading

    # A second worker (or the writer thread) has the fresh file open in a transaction at the
    # moment this one opens it: SQLite refuses the switch to WAL at once, without waiting.
    holder = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE t (x)")
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    store = Store(db_path)
    release.join()
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    holder.close()
