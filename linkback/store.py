"""The SQLite store: the only module that speaks SQL.

One file holds everything: sites, linkbacks, their daily counts with hashing bins, the crawl
queue, the blacklist and settings. The schema is created and migrated when a :class:`Store`
opens the file; its version is recorded in ``PRAGMA user_version``.

Several threads and several processes may open one file. Each thread gets its own
connection (a sqlite3 connection never crosses threads); writes run in ``BEGIN IMMEDIATE``
transactions so that two writers queue on the busy timeout instead of failing half-way, and
the journal is WAL so that readers never wait for the writer.

The interface is deliberately narrow (plain dicts and tuples in, plain dicts out) so that a
server database could stand behind the same methods.
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import sqlite_utils

from . import counting
from .errors import StoreError

logger = logging.getLogger(__name__)

#: How long a connection waits for another process's write lock before giving up, in seconds.
BUSY_TIMEOUT = 5.0

#: Every status a linkback can have.
STATUSES = ("pending", "verified", "held", "unverified", "gone", "hidden", "blocked", "error")

#: Every kind of linkback.
KINDS = ("referrer", "webmention", "pingback", "trackback", "discussion")

#: The columns of a linkback as the CLI, the JSON API and the admin show them, in order.
LINKBACK_FIELDS = (
    "source", "permalink", "target", "kind", "status", "title", "blurb", "hits", "value",
    "visitors", "fraud_pct", "recency_bias", "first_seen", "last_seen",
)

#: A daily counts key: (source URL, target URL, site, day "YYYY-MM-DD").
HitKey = tuple[str, str, str, str]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def isotime(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_epoch(stamp: str) -> float:
    """Epoch seconds of an :func:`isotime` string (a naive one is taken as UTC)."""
    moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


# --- schema -----------------------------------------------------------------------------------

MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = []


def migration(fn: Callable[[sqlite_utils.Database], None]) -> Callable[[sqlite_utils.Database], None]:
    """Register a schema migration. They run in the order they are registered, once each."""
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_core(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE sites (
            id INTEGER PRIMARY KEY,
            host TEXT NOT NULL UNIQUE,
            moderation TEXT NOT NULL DEFAULT 'auto',   -- 'auto' publishes, 'hold' waits
            display TEXT NOT NULL DEFAULT '{}',         -- JSON display options
            created_at TEXT NOT NULL
        );
        CREATE TABLE linkbacks (
            id INTEGER PRIMARY KEY,
            site TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL,          -- the URL first seen linking (Referer or notification)
            permalink TEXT NOT NULL,       -- the entry's own URL once found; the source until then
            target TEXT NOT NULL,          -- our page
            kind TEXT NOT NULL DEFAULT 'referrer',
            status TEXT NOT NULL DEFAULT 'pending',
            title TEXT,
            blurb TEXT,
            blurb_start INTEGER,           -- the linking text's place in the blurb
            blurb_end INTEGER,
            author_name TEXT,
            author_url TEXT,
            author_photo TEXT,
            published TEXT,
            site_name TEXT,
            favicon TEXT,
            points INTEGER,
            comments INTEGER,
            final_url TEXT,
            content_hash TEXT,
            approved INTEGER NOT NULL DEFAULT 0,
            hits INTEGER NOT NULL DEFAULT 0,
            value REAL NOT NULL DEFAULT 0,
            visitors REAL NOT NULL DEFAULT 0,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            verified_at TEXT,
            updated_at TEXT,
            UNIQUE (permalink, target)
        );
        CREATE INDEX linkbacks_target ON linkbacks (target, status);
        CREATE INDEX linkbacks_status ON linkbacks (status, value);
        CREATE INDEX linkbacks_site ON linkbacks (site, status);
        CREATE INDEX linkbacks_last_seen ON linkbacks (last_seen);
        -- Every URL that led to a linkback: the Referer seen, the permalink found, aliases.
        CREATE TABLE referrers (
            url TEXT NOT NULL,
            target TEXT NOT NULL,
            linkback_id INTEGER NOT NULL,
            PRIMARY KEY (url, target)
        ) WITHOUT ROWID;
        CREATE INDEX referrers_linkback ON referrers (linkback_id);
        CREATE TABLE daily (
            linkback_id INTEGER NOT NULL,
            day TEXT NOT NULL,
            hits INTEGER NOT NULL,
            value REAL NOT NULL,
            visitors REAL NOT NULL,
            bins BLOB,
            PRIMARY KEY (linkback_id, day)
        ) WITHOUT ROWID;
        -- One crawl job per linkback: first verification, retries and re-verification.
        CREATE TABLE jobs (
            linkback_id INTEGER PRIMARY KEY,
            url TEXT NOT NULL,
            due_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            checks INTEGER NOT NULL DEFAULT 0,
            lease_owner TEXT,
            lease_until REAL,
            last_error TEXT,
            created_at REAL NOT NULL
        );
        CREATE INDEX jobs_due ON jobs (due_at);
        CREATE TABLE fetches (
            id INTEGER PRIMARY KEY,
            linkback_id INTEGER NOT NULL,
            fetched_at TEXT NOT NULL,
            url TEXT NOT NULL,
            http_status INTEGER,
            outcome TEXT NOT NULL,
            detail TEXT
        );
        CREATE INDEX fetches_linkback ON fetches (linkback_id, id);
        CREATE TABLE blacklist (
            id INTEGER PRIMARY KEY,
            pattern TEXT NOT NULL UNIQUE,
            note TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE salts (
            day TEXT PRIMARY KEY,
            salt BLOB NOT NULL
        );
        CREATE TABLE counters (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL DEFAULT 0
        );
        """
    )


@migration
def m010_admin_accounts(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            password_hash TEXT NOT NULL,       -- werkzeug.security (scrypt)
            feed_token TEXT NOT NULL UNIQUE,   -- the secret of the user's Atom feed URL
            created_at TEXT NOT NULL,
            last_login TEXT
        );
        -- Server-side admin sessions; the cookie carries a token whose SHA-256 is the key,
        -- so a copy of the database does not hand out live sessions.
        CREATE TABLE admin_sessions (
            id TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL,
            csrf TEXT NOT NULL,
            created_at REAL NOT NULL,
            seen_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            address TEXT,
            user_agent TEXT
        ) WITHOUT ROWID;
        CREATE INDEX admin_sessions_user ON admin_sessions (user_id);
        -- Failed logins per user name and per client address, for throttling.
        CREATE TABLE login_failures (
            key TEXT PRIMARY KEY,
            failures INTEGER NOT NULL,
            first_at REAL NOT NULL,
            locked_until REAL
        ) WITHOUT ROWID;
        -- The admin's linkbacks table sorts by these; each index also holds the rowid, so
        -- keyset pages ("value < ? OR value = ? AND id < ?") walk them without sorting.
        CREATE INDEX linkbacks_value ON linkbacks (value);
        CREATE INDEX linkbacks_hits ON linkbacks (hits);
        CREATE INDEX linkbacks_visitors ON linkbacks (visitors);
        CREATE INDEX linkbacks_first_seen ON linkbacks (first_seen);
        CREATE INDEX linkbacks_verified_at ON linkbacks (verified_at) WHERE verified_at IS NOT NULL;
        """
    )


@migration
def m030_protocols_notifications(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- One row per notification (source, target, kind); repeats are counted into it.
        -- The token is the secret in the Webmention status URL. Title, excerpt and blog
        -- name are what a Trackback sender claimed: kept, never displayed unverified.
        CREATE TABLE notifications (
            token TEXT PRIMARY KEY,
            linkback_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            source TEXT NOT NULL,
            target TEXT NOT NULL,
            title TEXT,
            excerpt TEXT,
            blog_name TEXT,
            first_received TEXT NOT NULL,
            received_at TEXT NOT NULL,
            count INTEGER NOT NULL DEFAULT 1
        ) WITHOUT ROWID;
        CREATE UNIQUE INDEX notifications_pair ON notifications (source, target, kind);
        CREATE INDEX notifications_target ON notifications (target, kind);
        CREATE INDEX notifications_linkback ON notifications (linkback_id);
        -- What we sent: one row per (our page, the page it links to).
        CREATE TABLE sends (
            source TEXT NOT NULL,
            target TEXT NOT NULL,
            protocol TEXT,                 -- webmention, pingback, trackback; NULL: none found
            endpoint TEXT,
            outcome TEXT NOT NULL,         -- sent, failed, no-endpoint
            http_status INTEGER,
            detail TEXT,
            location TEXT,                 -- a Webmention receiver's status URL
            content_hash TEXT,             -- our page's content when this was sent
            linked INTEGER NOT NULL DEFAULT 1,  -- 0 once our page no longer links to target
            attempts INTEGER NOT NULL DEFAULT 1,
            sent_at TEXT NOT NULL,
            PRIMARY KEY (source, target)
        ) WITHOUT ROWID;
        """
    )


@migration
def m040_display_generation(db: sqlite_utils.Database) -> None:
    # Rendered blocks are cached per process. Counting a hit changes a linkback's totals
    # every second under traffic; invalidating on every commit would leave no cache at all.
    # These triggers count only the changes a reader can see (what is shown, and how), in
    # every process alike, without any writer having to remember to say so.
    shown = (
        "status, kind, permalink, target, title, blurb, blurb_start, blurb_end, author_name, "
        "author_url, author_photo, published, site_name, favicon, points, comments, verified_at"
    )
    bump = "UPDATE counters SET value = value + 1 WHERE name = 'display_generation';"
    db.executescript(
        f"""
        INSERT OR IGNORE INTO counters (name, value) VALUES ('display_generation', 0);
        CREATE TRIGGER linkbacks_shown_insert AFTER INSERT ON linkbacks
            WHEN NEW.status = 'verified' BEGIN {bump} END;
        CREATE TRIGGER linkbacks_shown_delete AFTER DELETE ON linkbacks
            WHEN OLD.status = 'verified' BEGIN {bump} END;
        CREATE TRIGGER linkbacks_shown_update AFTER UPDATE OF {shown} ON linkbacks
            WHEN OLD.status = 'verified' OR NEW.status = 'verified' BEGIN {bump} END;
        CREATE TRIGGER sites_display_insert AFTER INSERT ON sites BEGIN {bump} END;
        CREATE TRIGGER sites_display_delete AFTER DELETE ON sites BEGIN {bump} END;
        CREATE TRIGGER sites_display_update AFTER UPDATE OF display, host ON sites BEGIN {bump} END;
        """
    )


@migration
def m050_crawl_hosts(db: sqlite_utils.Database) -> None:
    # Politeness towards a remote host must hold across every process crawling this
    # database (gunicorn workers, a CLI run), so it lives here rather than in memory:
    # a host leased to one claim is busy until released (or the lease runs out after a
    # crash), and is not fetched again before next_at. Rows whose delay has passed are
    # deleted, so the table holds only the hosts crawled a moment ago.
    db.executescript(
        """
        CREATE TABLE crawl_hosts (
            host TEXT PRIMARY KEY,
            busy_owner TEXT,
            busy_until REAL,
            next_at REAL NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        """
    )


SCHEMA_VERSION = len(MIGRATIONS)


# --- the store --------------------------------------------------------------------------------


class Store:
    """A linkback database in one SQLite file.

    :param path: the database file; created with its schema when missing.
    :param timeout: seconds to wait for another writer's lock.

    >>> store = Store("linkback.db")          # doctest: +SKIP
    >>> store.linkbacks(target="https://example.com/post")  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = BUSY_TIMEOUT) -> None:
        self.path = os.fspath(path)
        self.timeout = timeout
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._migrate()

    # connections

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:" and not os.path.isdir(os.path.dirname(os.path.abspath(self.path))):
            raise StoreError("no such directory for the database: %s" % self.path)
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA busy_timeout=%d" % int(self.timeout * 1000))
            self._use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as e:
            raise StoreError("cannot open %s: %s" % (self.path, e)) from e
        conn.row_factory = sqlite3.Row
        with self._lock:
            self._connections.append(conn)
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Put the file in WAL mode, which lets readers run beside the one writer.

        Switching a new file to WAL needs a moment alone with it, and SQLite answers "locked"
        at once, without waiting, while another connection (a second worker starting, the
        writer thread migrating) has it open. The mode is kept in the file, so it is enough
        that one connection succeeds: try until the file says WAL or the busy timeout ends.
        """
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                break  # "wal", or the mode a file that cannot do WAL keeps (":memory:")
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e):
                    raise
                mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode == "wal" or time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        if mode not in ("wal", "memory"):
            logger.warning("linkback: %s stays in %s journal mode", self.path, mode)

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's connection, wrapped by sqlite-utils."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite_utils.Database(self.conn)
        return db

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        self._local = threading.local()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the database lock at once (``BEGIN IMMEDIATE``).

        Taking the lock up front means a transaction either gets it within the busy timeout
        or fails before changing anything; a deferred one could fail half-way when it
        upgrades from reading to writing.
        """
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise StoreError(str(e)) from e
        try:
            yield conn
            if conn.in_transaction:  # a library call inside may have committed already
                conn.execute("COMMIT")
        except BaseException as e:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if isinstance(e, sqlite3.Error):
                raise StoreError(str(e)) from e
            raise

    def _migrate(self) -> None:
        # sqlite-utils' Migrations checks what is pending outside a transaction, so two
        # processes starting together could both apply a migration. Reading the version
        # inside BEGIN IMMEDIATE serialises them: the second sees the first one's work.
        try:
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as e:
            raise StoreError("cannot read %s: %s" % (self.path, e)) from e
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StoreError(
                "%s has schema version %d, newer than this linkback (%d)"
                % (self.path, version, SCHEMA_VERSION)
            )
        with self.write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for number, fn in enumerate(MIGRATIONS[version:], start=version + 1):
                logger.info("migrating %s to schema %d (%s)", self.path, number, fn.__name__)
                fn(self.db)
                conn.execute("PRAGMA user_version = %d" % number)

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def data_version(self) -> int:
        """A number that changes whenever another connection commits a change."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    # --- capture ------------------------------------------------------------------------------

    def salt(self, day: str) -> bytes:
        """The visitor-key salt of ``day``, created on first use; older salts are deleted.

        Every process sharing the file uses the same salt, so one visitor is one key in all
        of them; deleting yesterday's salt is what makes the keys unlinkable afterwards.
        """
        row = self.conn.execute("SELECT salt FROM salts WHERE day = ?", (day,)).fetchone()
        if row is not None:
            return bytes(row[0])
        with self.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO salts (day, salt) VALUES (?, ?)", (day, secrets.token_bytes(32))
            )
            conn.execute("DELETE FROM salts WHERE day < ?", (day,))
            row = conn.execute("SELECT salt FROM salts WHERE day = ?", (day,)).fetchone()
        return bytes(row[0])

    def ensure_sites(self, hosts: Iterable[str]) -> None:
        """Add configured sites that are not in the database yet."""
        now = isotime(utcnow())
        with self.write() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO sites (host, created_at) VALUES (?, ?)",
                [(host, now) for host in hosts],
            )

    def record_hits(
        self,
        groups: Mapping[HitKey, tuple[int, Mapping[int, int]]],
        *,
        now: dt.datetime | None = None,
        kind: str = "referrer",
    ) -> int:
        """Add aggregated hits in one transaction; return how many new linkbacks it made.

        ``groups`` maps (source, target, site, day) to (raw hits, {bin: count}). Each new
        (source, target) pair becomes a ``pending`` linkback with a due crawl job. Daily
        bins are merged with what other processes stored, and the day's value, visitor
        estimate and the linkback's totals are updated from the merged bins.

        A batch costs a fixed number of statements (a few per 4,096 pairs or days), never a
        few per pair: sqlite3 lets go of the GIL around every step into SQLite, and getting
        it back can wait a whole switch interval (5 ms) while another thread computes, which
        made a batch of 3,000 pairs take a minute beside one busy request thread.
        """
        if not groups:
            return 0
        now = now or utcnow()
        stamp = isotime(now)
        sites: dict[tuple[str, str], str] = {}
        for source, target, site, _day in groups:
            sites.setdefault((source, target), site)  # a new linkback's site: its first group's
        with self.write() as conn:
            pairs = list(sites)
            found = self._lookup_ids(conn, "referrer", pairs)
            ids = {pair: linkback_id for pair, linkback_id in zip(pairs, found, strict=True)
                   if linkback_id is not None}
            missing = [pair for pair, linkback_id in zip(pairs, found, strict=True) if linkback_id is None]
            created = 0
            if missing:
                new_ids, created = self._create_linkbacks(
                    conn, [(source, target, sites[(source, target)]) for source, target in missing],
                    kind, stamp,
                )
                ids.update(zip(missing, new_ids, strict=True))

            per_day: dict[tuple[int, str], list[Any]] = {}
            for (source, target, _site, day), (hits, bins) in groups.items():
                key = (ids[(source, target)], day)
                entry = per_day.get(key)
                if entry is None:
                    per_day[key] = [hits, dict(bins)]
                else:
                    entry[0] += hits
                    counting.merge_bins(entry[1], bins)

            totals: dict[int, list[float]] = {}
            daily_rows = []
            stored = self._stored_days(conn, list(per_day))
            for (linkback_id, day), (hits, bins) in per_day.items():
                row = stored.get((linkback_id, day))
                if row is None:
                    old_hits, old_value, old_visitors, merged = 0, 0.0, 0.0, bins
                else:
                    old_hits, old_value, old_visitors = row[0], row[1], row[2]
                    merged = counting.merge_bins(row[3], bins)
                value = counting.compensated_value(merged)
                visitors = counting.estimate_visitors(merged)
                daily_rows.append(
                    (linkback_id, day, old_hits + hits, value, visitors, counting.encode_bins(merged))
                )
                total = totals.setdefault(linkback_id, [0, 0.0, 0.0, day, day])
                total[0] += hits
                total[1] += value - old_value
                total[2] += visitors - old_visitors
                total[3] = min(total[3], day)
                total[4] = max(total[4], day)
            self._execute_rows(
                conn,
                "INSERT OR REPLACE INTO daily (linkback_id, day, hits, value, visitors, bins) VALUES ",
                "(?, ?, ?, ?, ?, ?)",
                daily_rows,
            )
            today = stamp[:10]
            # Only the counting columns are set: the display triggers (m040) watch the shown
            # ones, and a hit must not invalidate every process's rendered blocks.
            self._execute_rows(
                conn,
                "UPDATE linkbacks SET hits = hits + v.column2, value = value + v.column3,"
                " visitors = visitors + v.column4, first_seen = min(first_seen, v.column5),"
                " last_seen = max(last_seen, v.column6) FROM (VALUES ",
                "(?, ?, ?, ?, ?, ?)",
                [
                    (
                        linkback_id, hits, value, visitors,
                        # Days before today come from backfilled logs: their hour is unknown.
                        stamp if first >= today else first + "T00:00:00Z",
                        stamp if last >= today else last + "T23:59:59Z",
                    )
                    for linkback_id, (hits, value, visitors, first, last) in totals.items()
                ],
                ") AS v WHERE linkbacks.id = v.column1",
            )
        return created

    def _create_linkback(
        self, conn: sqlite3.Connection, source: str, target: str, site: str, kind: str, stamp: str
    ) -> tuple[int, int]:
        """The linkback of a (source, target) that has no referrer row yet: its id, and 1 if
        it is new (see :meth:`_create_linkbacks`)."""
        ids, created = self._create_linkbacks(conn, [(source, target, site)], kind, stamp)
        return ids[0], created

    def _create_linkbacks(
        self, conn: sqlite3.Connection, pairs: list[tuple[str, str, str]], kind: str, stamp: str
    ) -> tuple[list[int], int]:
        """The linkbacks of distinct (source, target, site) triples that have no referrer row
        yet: their ids in order, and how many are new.

        A source that is already some linkback's permalink (the crawler found it) is that
        linkback. Every other triple becomes a ``pending`` linkback of ``kind`` with a crawl
        job due now. Every triple gets its referrer row, so the next hit finds it at once.
        """
        keys = [(source, target) for source, target, _site in pairs]
        found = self._lookup_ids(conn, "permalink", keys)
        # Looked up inside the write transaction, so no other writer can add one of these
        # before the insert: each one inserted here is new, and only new ones get a job.
        fresh = [k for k, linkback_id in enumerate(found) if linkback_id is None]
        created = 0
        if fresh:
            created = self._execute_rows(
                conn,
                "INSERT INTO linkbacks (site, source, permalink, target, kind, status, first_seen,"
                " last_seen) VALUES ",
                "(?, ?, ?, ?, ?, 'pending', ?, ?)",
                [(pairs[k][2], pairs[k][0], pairs[k][0], pairs[k][1], kind, stamp, stamp) for k in fresh],
                " ON CONFLICT (permalink, target) DO NOTHING",
            )
            for k, linkback_id in zip(fresh, self._lookup_ids(conn, "permalink", [keys[k] for k in fresh]),
                                      strict=True):
                found[k] = linkback_id
            due = time.time()
            self._execute_rows(
                conn,
                "INSERT OR IGNORE INTO jobs (linkback_id, url, due_at, created_at) VALUES ",
                "(?, ?, ?, ?)",
                [(found[k], pairs[k][0], due, due) for k in fresh],
            )
        ids = [int(linkback_id) for linkback_id in found if linkback_id is not None]
        if len(ids) != len(pairs):
            raise StoreError("a new linkback could not be found again")
        self._execute_rows(
            conn,
            "INSERT OR IGNORE INTO referrers (url, target, linkback_id) VALUES ",
            "(?, ?, ?)",
            [(source, target, linkback_id) for (source, target), linkback_id in zip(keys, ids, strict=True)],
        )
        return ids, created

    #: How a (source, target) pair finds its linkback: by a referrer row (any URL that led to
    #: it), or by the linkback's own permalink.
    _LOOKUPS = {
        "referrer": "JOIN referrers AS r ON r.url = j.url AND r.target = j.target",
        "permalink": "JOIN linkbacks AS r ON r.permalink = j.url AND r.target = j.target",
    }

    def _lookup_ids(
        self, conn: sqlite3.Connection, by: str, pairs: list[tuple[str, str]]
    ) -> list[int | None]:
        """The linkback id of each (source, target) pair found ``by`` referrer or permalink,
        None where there is none; one statement returning one row per chunk of pairs."""
        column = "r.linkback_id" if by == "referrer" else "r.id"
        ids: list[int | None] = [None] * len(pairs)
        for k, linkback_id in self._select_rows(
            conn,
            "WITH j (k, url, target) AS (VALUES ",
            "(?, ?, ?)",
            [(k, source, target) for k, (source, target) in enumerate(pairs)],
            ") SELECT json_group_array(json_array(j.k, %s)) FROM j %s" % (column, self._LOOKUPS[by]),
        ):
            ids[k] = linkback_id
        return ids

    def _stored_days(
        self, conn: sqlite3.Connection, keys: list[tuple[int, str]]
    ) -> dict[tuple[int, str], tuple[int, float, float, dict[int, int]]]:
        """The stored (hits, value, visitors, bins) of the (linkback id, day) keys that have a
        daily row, read in one statement returning one row per chunk of keys."""
        # JSON writes a REAL with 15 significant digits, which drops the last bits of a
        # visitor estimate; 17 are enough to give back the same double.
        rows = self._select_rows(
            conn,
            "WITH j (k, linkback_id, day) AS (VALUES ",
            "(?, ?, ?)",
            [(k, linkback_id, day) for k, (linkback_id, day) in enumerate(keys)],
            ") SELECT json_group_array(json_array(j.k, d.hits, printf('%!.17g', d.value),"
            " printf('%!.17g', d.visitors), hex(d.bins)))"
            " FROM j JOIN daily AS d ON d.linkback_id = j.linkback_id AND d.day = j.day",
        )
        return {
            keys[k]: (hits, float(value), float(visitors), counting.decode_bins(bytes.fromhex(bins)))
            for k, hits, value, visitors, bins in rows
        }

    #: Rows that one multi-row statement carries at most (fewer when a row's parameters
    #: would pass SQLite's limit of 32,766 per statement).
    _ROWS_PER_STATEMENT = 4096

    @classmethod
    def _chunks(
        cls, conn: sqlite3.Connection, head: str, row: str, rows: list[tuple[Any, ...]], tail: str
    ) -> Iterator[tuple[str, list[Any]]]:
        """``head``, then ``row`` once per item of ``rows``, then ``tail``, as (SQL, parameters)
        statements of as many rows as SQLite's parameter limit allows."""
        limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // max(1, row.count("?"))
        size = max(1, min(cls._ROWS_PER_STATEMENT, limit))
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            yield head + ", ".join([row] * len(chunk)) + tail, [value for item in chunk for value in item]

    def _execute_rows(
        self, conn: sqlite3.Connection, head: str, row: str, rows: list[tuple[Any, ...]], tail: str = ""
    ) -> int:
        """Run a multi-row statement over ``rows`` (see :meth:`_chunks`); return the rows changed."""
        changed = 0
        for sql, parameters in self._chunks(conn, head, row, rows, tail):
            changed += conn.execute(sql, parameters).rowcount
        return changed

    def _select_rows(
        self, conn: sqlite3.Connection, head: str, row: str, rows: list[tuple[Any, ...]], tail: str
    ) -> list[list[Any]]:
        """Run a query over ``rows`` (see :meth:`_chunks`) whose one result is a JSON array of
        arrays; return the arrays of every chunk."""
        found: list[list[Any]] = []
        for sql, parameters in self._chunks(conn, head, row, rows, tail):
            found.extend(json.loads(conn.execute(sql, parameters).fetchone()[0]))
        return found

    def add_counter(self, name: str, amount: int) -> None:
        """Add to a named counter (dropped hits, for example)."""
        with self.write() as conn:
            conn.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                (name, amount),
            )

    def counter(self, name: str) -> int:
        row = self.conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return row[0] if row else 0

    # --- reading ------------------------------------------------------------------------------

    def linkbacks(
        self,
        *,
        target: str | None = None,
        status: str | Iterable[str] | None = None,
        site: str | None = None,
        kind: str | Iterable[str] | None = None,
        order: str = "value",
        limit: int | None = None,
        offset: int = 0,
        today: dt.date | None = None,
    ) -> list[dict[str, Any]]:
        """Linkbacks as dicts, with ``fraud_pct`` and ``recency_bias`` worked out.

        ``order`` is ``value`` (highest first), ``newest`` (first seen) or ``visitors``.
        """
        where, params = [], []
        if target is not None:
            where.append("l.target = ?")
            params.append(target)
        for column, wanted in (("status", status), ("kind", kind)):
            if wanted is None:
                continue
            values = [wanted] if isinstance(wanted, str) else list(wanted)
            where.append("l.%s IN (%s)" % (column, ", ".join("?" * len(values))))
            params.extend(values)
        if site is not None:
            where.append("l.site = ?")
            params.append(site)
        orders = {
            "value": "l.value DESC, l.id",
            "newest": "l.first_seen DESC, l.id DESC",
            "visitors": "l.visitors DESC, l.id",
            "id": "l.id",
        }
        if order not in orders:
            raise ValueError("order must be one of %s" % ", ".join(orders))
        sql = (
            "SELECT l.*, (SELECT SUM(d.value * (julianday(d.day) - julianday(substr(l.first_seen, 1, 10))))"
            " FROM daily d WHERE d.linkback_id = l.id) AS _moment FROM linkbacks l"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY " + orders[order]
        if limit is not None:
            sql += " LIMIT %d OFFSET %d" % (int(limit), int(offset))
        today = today or utcnow().date()
        return [self._row(row, today) for row in self.conn.execute(sql, params)]

    def linkback(self, linkback_id: int, *, today: dt.date | None = None) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT l.*, (SELECT SUM(d.value * (julianday(d.day) - julianday(substr(l.first_seen, 1, 10))))"
            " FROM daily d WHERE d.linkback_id = l.id) AS _moment FROM linkbacks l WHERE l.id = ?",
            (linkback_id,),
        ).fetchone()
        return self._row(row, today or utcnow().date()) if row else None

    @staticmethod
    def _row(row: sqlite3.Row, today: dt.date) -> dict[str, Any]:
        item = dict(row)
        moment = item.pop("_moment") or 0.0
        first_day = dt.date.fromisoformat(item["first_seen"][:10])
        age = (today - first_day).days
        value = item["value"]
        item["value"] = round(value, 2)
        item["visitors"] = round(item["visitors"], 1)
        item["fraud_pct"] = counting.fraud_pct(item["hits"], value)
        if age <= 0 or value <= 0:
            item["recency_bias"] = 0.0
        else:
            centroid = moment / (value * age)
            item["recency_bias"] = round(max(-10.0, min(10.0, 20.0 * (centroid - 0.5))), 2)
        return item

    def daily(self, linkback_id: int) -> list[dict[str, Any]]:
        """A linkback's days, oldest first: ``day``, ``hits``, ``value``, ``visitors``."""
        return [
            dict(row)
            for row in self.conn.execute(
                "SELECT day, hits, value, visitors FROM daily WHERE linkback_id = ? ORDER BY day",
                (linkback_id,),
            )
        ]

    def count_linkbacks(self, **filters: Any) -> int:
        where, params = [], []
        for column in ("target", "status", "site", "kind"):
            if filters.get(column) is not None:
                where.append("%s = ?" % column)
                params.append(filters[column])
        sql = "SELECT COUNT(*) FROM linkbacks"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self.conn.execute(sql, params).fetchone()[0]

    def backup(self, destination: str | os.PathLike[str]) -> None:
        """Copy the database to ``destination`` consistently, while others keep writing.

        Uses SQLite's online backup, which copies a snapshot page by page; copying the file
        itself could catch a half-applied transaction and miss what is still in the WAL.
        """
        try:
            target = sqlite3.connect(os.fspath(destination))
            try:
                self.conn.backup(target)
            finally:
                target.close()
        except sqlite3.Error as e:
            raise StoreError("cannot back up %s to %s: %s" % (self.path, destination, e)) from e

    # --- settings, blacklist, sites -----------------------------------------------------------

    def get_setting(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, key: str, value: Any) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, json.dumps(value))
            )

    def blacklist(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM blacklist ORDER BY pattern")]

    def add_blacklist(self, pattern: str, note: str | None = None) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO blacklist (pattern, note, created_at) VALUES (?, ?, ?)",
                (pattern, note, isotime(utcnow())),
            )

    def remove_blacklist(self, pattern: str) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM blacklist WHERE pattern = ?", (pattern,))

    def sites(self) -> list[dict[str, Any]]:
        rows = []
        for row in self.conn.execute("SELECT * FROM sites ORDER BY host"):
            item = dict(row)
            item["display"] = json.loads(item["display"] or "{}")
            rows.append(item)
        return rows

    # --- display ------------------------------------------------------------------------------

    #: The columns a displayed linkback needs; nothing else of the row is ever shown.
    DISPLAY_COLUMNS = (
        "id", "kind", "source", "permalink", "title", "blurb", "blurb_start", "blurb_end",
        "author_name", "author_url", "author_photo", "published", "site_name", "favicon",
        "points", "comments", "hits", "value", "visitors", "first_seen", "last_seen",
    )

    def change_token(self) -> tuple[int, int]:
        """A value that changes whenever something a reader of the block could see changes.

        Triggers (migration ``m040``) count changes to what is shown: a linkback becoming or
        ceasing to be ``verified``, its title, blurb, author, permalink and the like, and
        sites' display options, from any connection or process. Hit counts are not among
        them, so counting traffic does not empty render caches; those figures refresh with
        the cache's time limit. The connection's identity is part of the token because a
        new connection has no baseline.
        """
        conn = self.conn
        row = conn.execute("SELECT value FROM counters WHERE name = 'display_generation'").fetchone()
        return (id(conn), row[0] if row else 0)

    def displayed_linkbacks(
        self,
        target: str,
        *,
        kinds: Iterable[str] = KINDS,
        seen_since: str | None = None,
        min_visitors: float = 0,
        min_value: float = 0,
        order: str = "score",
        limit: int = 20,
        now: str | None = None,
        columns: Iterable[str] | None = None,
        tuples: bool = False,
    ) -> list[dict[str, Any]] | list[tuple[Any, ...]]:
        """Verified linkbacks of one page that the display options let through.

        :param target: the page's normalised URL.
        :param kinds: the kinds to include.
        :param seen_since: ISO time; older ``last_seen`` are left out.
        :param min_visitors: minimum visitor estimate, for ``referrer`` linkbacks only
            (notifications and discussions are vouched for by their sender, not by traffic).
        :param min_value: minimum compensated value, likewise for referrers only.
        :param order: ``score`` (traffic value fading with time since last seen), ``newest``
            (first seen), ``visitors`` or ``points`` (points plus comments, for discussions).
        :param limit: at most this many.
        :param now: ISO time the ``score`` is worked out at (default: now).
        :param columns: the columns wanted, among :attr:`DISPLAY_COLUMNS` (default: all);
            each row's keys are in this order.
        :param tuples: give each row as a tuple of the ``columns``' values, not a dict (a
            page of hundreds of linkbacks renders without building a dict per row).
        """
        names = self.DISPLAY_COLUMNS if columns is None else tuple(columns)
        if not set(names) <= set(self.DISPLAY_COLUMNS):
            raise ValueError("columns must be among %s" % ", ".join(self.DISPLAY_COLUMNS))
        kinds = [k for k in kinds if k in KINDS]
        if not kinds or limit <= 0:
            return []
        where = ["target = ?", "status = 'verified'", "kind IN (%s)" % ", ".join("?" * len(kinds))]
        params: list[Any] = [target, *kinds]
        if seen_since is not None:
            where.append("last_seen >= ?")
            params.append(seen_since)
        if min_visitors > 0 or min_value > 0:
            where.append("(kind != 'referrer' OR (visitors >= ? AND value >= ?))")
            params.extend((min_visitors, min_value))
        orders = {
            # Value plus one so that notifications, which send no counted traffic, still rank
            # by freshness; a month without visits halves a linkback's weight.
            "score": (
                "(value + 1.0) / (1.0 + max(0.0, julianday(?) - julianday(last_seen)) / 30.0)",
            ),
            # The unary + keeps SQLite from walking a whole-table index on the ORDER BY
            # column (the admin's) instead of the page's few rows through linkbacks_target.
            "newest": ("+first_seen",),
            "visitors": ("+visitors", "value"),
            # Discussions: the liveliest first.
            "points": ("coalesce(points, 0) + coalesce(comments, 0)",),
        }
        if order not in orders:
            raise ValueError("order must be one of %s" % ", ".join(orders))
        keys = orders[order]
        # The page's ids are ranked first and the wide rows read after, by rowid: the sort
        # key is worked out once a row, and up to 15% less time on a page of 200.
        sql = (
            "SELECT %s FROM (SELECT id AS pid, %s FROM linkbacks WHERE %s ORDER BY %s LIMIT %d)"
            " AS page CROSS JOIN linkbacks ON linkbacks.id = page.pid ORDER BY %s"
        ) % (
            ", ".join("linkbacks." + name for name in names),
            ", ".join("%s AS k%d" % (key, i) for i, key in enumerate(keys)),
            " AND ".join(where),
            "".join("k%d DESC, " % i for i in range(len(keys))) + "id DESC",
            int(limit),
            "".join("page.k%d DESC, " % i for i in range(len(keys))) + "page.pid DESC",
        )
        if order == "score":
            params.insert(0, now or isotime(utcnow()))
        # Plain tuples (zipped with the names): dict(sqlite3.Row) costs three times as much,
        # which adds up on a page showing hundreds of linkbacks.
        cursor = self.conn.cursor()
        cursor.row_factory = None
        if tuples:
            return cursor.execute(sql, params).fetchall()
        return [dict(zip(names, row, strict=True)) for row in cursor.execute(sql, params)]

    def site_display(self, host: str) -> dict[str, Any]:
        """The display options stored for one site (empty when none or no such site)."""
        row = self.conn.execute("SELECT display FROM sites WHERE host = ?", (host,)).fetchone()
        if row is None:
            return {}
        try:
            value = json.loads(row[0] or "{}")
        except ValueError:
            logger.warning("ignoring unreadable display options of %s", host)
            return {}
        return value if isinstance(value, dict) else {}

    def display_settings(self) -> dict[str, dict[str, Any]]:
        """Every site's stored display options, by host."""
        result = {}
        for row in self.conn.execute("SELECT host, display FROM sites"):
            try:
                value = json.loads(row[1] or "{}")
            except ValueError:
                value = {}
            result[row[0]] = value if isinstance(value, dict) else {}
        return result

    def set_site_display(self, host: str, options: Mapping[str, Any]) -> None:
        """Store a site's display options (the site is added when missing).

        Validate first with :func:`linkback.render.validate_options`; the store keeps any JSON.
        """
        with self.write() as conn:
            conn.execute(
                "INSERT INTO sites (host, display, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (host) DO UPDATE SET display = excluded.display",
                (host, json.dumps(dict(options)), isotime(utcnow())),
            )

    def add_linkback(self, source: str, target: str, **columns: Any) -> int:
        """Insert a linkback with the given columns as they are (examples, fixtures, imports).

        No crawl job is made: the caller vouches for the row, ``status`` included. Unknown
        columns, statuses and kinds raise :class:`ValueError`. Returns the new id.

        >>> store.add_linkback("https://a.example/post", "https://example.com/",
        ...                    status="verified", title="A post")  # doctest: +SKIP
        """
        allowed = set(self.DISPLAY_COLUMNS) | {"site", "status", "approved", "final_url"}
        unknown = set(columns) - allowed
        if unknown or "id" in columns:
            raise ValueError("unknown linkback columns: %s" % ", ".join(sorted(unknown | {"id"} & set(columns))))
        if columns.get("status", "pending") not in STATUSES:
            raise ValueError("unknown status %r" % columns.get("status"))
        if columns.get("kind", "referrer") not in KINDS:
            raise ValueError("unknown kind %r" % columns.get("kind"))
        now = isotime(utcnow())
        row = {"permalink": source, "first_seen": now, "last_seen": now, **columns}
        row.update(source=source, target=target, updated_at=now)
        names = list(row)
        with self.write() as conn:
            cur = conn.execute(
                "INSERT INTO linkbacks (%s) VALUES (%s)" % (", ".join(names), ", ".join("?" * len(names))),
                [row[name] for name in names],
            )
            linkback_id = int(cur.lastrowid or 0)
            conn.execute(
                "INSERT OR IGNORE INTO referrers (url, target, linkback_id) VALUES (?, ?, ?)",
                (source, target, linkback_id),
            )
        return linkback_id

    # --- protocols ----------------------------------------------------------------------------

    def notified_linkback(self, source: str, target: str) -> dict[str, Any] | None:
        """The linkback a (source, target) notification is about, or ``None``.

        Gives ``id``, ``kind``, ``status``, ``approved`` and ``checked_at`` (epoch seconds of
        the last verification fetch, ``None`` before the first).
        """
        row = self._notified_row(self.conn, source, target)
        if row is None:
            return None
        item = dict(row)
        checked = item.pop("checked")
        item["checked_at"] = _iso_epoch(checked) if checked else None
        return item

    def notify_linkback(
        self,
        source: str,
        target: str,
        site: str,
        kind: str,
        *,
        title: str | None = None,
        excerpt: str | None = None,
        blog_name: str | None = None,
        recheck_after: float = 60.0,
        now: float | None = None,
    ) -> dict[str, Any]:
        """Record a Webmention, Pingback or Trackback and make its verification due.

        A new (source, target) becomes a ``pending`` linkback of ``kind`` with a crawl job
        due now. A known one is re-verified: its job becomes due now, or ``recheck_after``
        seconds after the last check, so that repeated notifications coalesce into one fetch.
        A linkback found gone, unverified or failing returns to ``pending``; a referrer
        becomes a notification of ``kind``; a ``blocked`` one is left untouched.

        Returns ``id``, ``token`` (of the Webmention status URL), ``created``,
        ``status`` (before this notification) and ``due_at``.
        """
        if kind not in ("webmention", "pingback", "trackback"):
            raise ValueError("not a notification kind: %r" % kind)
        now = time.time() if now is None else now
        stamp = isotime(dt.datetime.fromtimestamp(now, dt.UTC))
        with self.write() as conn:
            known = self._notified_row(conn, source, target)
            created = known is None
            status = "pending" if known is None else known["status"]
            if known is None:
                linkback_id, _new = self._create_linkback(conn, source, target, site, kind, stamp)
                due_at = conn.execute(
                    "SELECT due_at FROM jobs WHERE linkback_id = ?", (linkback_id,)
                ).fetchone()
                due = due_at[0] if due_at else now
            else:
                linkback_id = known["id"]
                if status == "blocked":
                    return {"id": linkback_id, "token": None, "created": False, "status": status,
                            "due_at": None}
                conn.execute(
                    "UPDATE linkbacks SET kind = CASE WHEN kind = 'referrer' THEN ? ELSE kind END,"
                    " status = CASE WHEN status IN ('gone', 'unverified', 'error') THEN 'pending'"
                    " ELSE status END, last_seen = max(last_seen, ?) WHERE id = ?",
                    (kind, stamp, linkback_id),
                )
                checked = known["checked"]
                due = now if not checked else max(now, _iso_epoch(checked) + recheck_after)
                conn.execute(
                    "INSERT INTO jobs (linkback_id, url, due_at, created_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (linkback_id) DO UPDATE SET due_at = min(due_at, excluded.due_at)",
                    (linkback_id, source, due, now),
                )
                due = conn.execute(
                    "SELECT due_at FROM jobs WHERE linkback_id = ?", (linkback_id,)
                ).fetchone()[0]
            conn.execute(
                "INSERT INTO notifications (token, linkback_id, kind, source, target, title,"
                " excerpt, blog_name, first_received, received_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (source, target, kind) DO UPDATE SET"
                " linkback_id = excluded.linkback_id, title = coalesce(excluded.title, title),"
                " excerpt = coalesce(excluded.excerpt, excerpt),"
                " blog_name = coalesce(excluded.blog_name, blog_name),"
                " received_at = excluded.received_at, count = count + 1",
                (secrets.token_urlsafe(18), linkback_id, kind, source, target, title, excerpt,
                 blog_name, stamp, stamp),
            )
            token = conn.execute(
                "SELECT token FROM notifications WHERE source = ? AND target = ? AND kind = ?",
                (source, target, kind),
            ).fetchone()[0]
        return {"id": linkback_id, "token": token, "created": created, "status": status,
                "due_at": due}

    @staticmethod
    def _notified_row(conn: sqlite3.Connection, source: str, target: str) -> sqlite3.Row | None:
        return conn.execute(
            "SELECT l.id, l.kind, l.status, l.approved,"
            " (SELECT max(fetched_at) FROM fetches f WHERE f.linkback_id = l.id) AS checked"
            " FROM linkbacks l WHERE l.id = coalesce("
            "  (SELECT linkback_id FROM referrers WHERE url = ? AND target = ?),"
            "  (SELECT id FROM linkbacks WHERE permalink = ? AND target = ?))",
            (source, target, source, target),
        ).fetchone()

    #: The linkback a notification belongs to now: the crawler may merge linkbacks (when
    #: a permalink is found) and moves their referrers, so the (source, target) referrer
    #: row is followed first and the id recorded at receipt is the fallback.
    _NOTIFIED_ID = (
        "coalesce((SELECT r.linkback_id FROM referrers r WHERE r.url = n.source"
        " AND r.target = n.target), n.linkback_id)"
    )

    def notification(self, token: str) -> dict[str, Any] | None:
        """A notification by its status token, with its linkback's current state."""
        row = self.conn.execute(
            "SELECT n.source, n.target, n.kind, n.first_received, n.received_at, n.count,"
            " l.id AS linkback_id, l.status, l.verified_at, l.updated_at, l.approved"
            " FROM notifications n LEFT JOIN linkbacks l ON l.id = %s"
            " WHERE n.token = ?" % self._NOTIFIED_ID,
            (token,),
        ).fetchone()
        return dict(row) if row else None

    def notifications(self, linkback_id: int) -> list[dict[str, Any]]:
        """The notifications that named one linkback (claimed title and excerpt included)."""
        return [
            dict(row)
            for row in self.conn.execute(
                "SELECT n.kind, n.source, n.target, n.title, n.excerpt, n.blog_name,"
                " n.first_received, n.received_at, n.count FROM notifications n"
                " WHERE %s = ? ORDER BY n.first_received, n.source" % self._NOTIFIED_ID,
                (linkback_id,),
            )
        ]

    def notified_sources(self, target: str, kind: str, *, status: str = "verified") -> list[str]:
        """Sources whose ``kind`` notifications about ``target`` are ``status`` now."""
        return [
            row[0]
            for row in self.conn.execute(
                "SELECT DISTINCT n.source FROM notifications n JOIN linkbacks l ON l.id = %s"
                " WHERE n.target = ? AND n.kind = ? AND l.status = ? ORDER BY n.first_received, n.source"
                % self._NOTIFIED_ID,
                (target, kind, status),
            )
        ]

    def sends(self, source: str) -> dict[str, dict[str, Any]]:
        """What was sent for our page ``source``, by target."""
        return {
            row["target"]: dict(row)
            for row in self.conn.execute("SELECT * FROM sends WHERE source = ?", (source,))
        }

    def record_send(
        self,
        source: str,
        target: str,
        *,
        outcome: str,
        protocol: str | None = None,
        endpoint: str | None = None,
        http_status: int | None = None,
        detail: str | None = None,
        location: str | None = None,
        content_hash: str | None = None,
        linked: bool = True,
    ) -> None:
        """Record the result of notifying ``target`` that our page ``source`` links to it."""
        with self.write() as conn:
            conn.execute(
                "INSERT INTO sends (source, target, protocol, endpoint, outcome, http_status,"
                " detail, location, content_hash, linked, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (source, target) DO UPDATE SET protocol = excluded.protocol,"
                " endpoint = excluded.endpoint, outcome = excluded.outcome,"
                " http_status = excluded.http_status, detail = excluded.detail,"
                " location = excluded.location, content_hash = excluded.content_hash,"
                " linked = excluded.linked, attempts = attempts + 1, sent_at = excluded.sent_at",
                (source, target, protocol, endpoint, outcome, http_status, detail, location,
                 content_hash, int(linked), isotime(utcnow())),
            )

    # --- admin --------------------------------------------------------------------------------

    #: Sort keys of the admin's linkbacks table → column; each has an index (m010).
    ADMIN_SORTS = {
        "value": "value", "hits": "hits", "visitors": "visitors",
        "first_seen": "first_seen", "last_seen": "last_seen",
    }

    def setting_default(self, key: str, value: Any) -> Any:
        """The stored setting ``key``; when missing, store ``value`` first. Two processes
        racing both get the value that won."""
        with self.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)", (key, json.dumps(value))
            )
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0])

    # accounts

    def create_user(self, name: str, password_hash: str) -> int:
        """Add an admin account; :class:`StoreError` when the name is taken."""
        try:
            with self.write() as conn:
                cur = conn.execute(
                    "INSERT INTO users (name, password_hash, feed_token, created_at) VALUES (?, ?, ?, ?)",
                    (name, password_hash, secrets.token_urlsafe(24), isotime(utcnow())),
                )
        except StoreError as e:
            if "UNIQUE" in str(e):
                raise StoreError("there is already a user named %s" % name) from None
            raise
        return int(cur.lastrowid or 0)

    def user(self, user_id: int) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        return dict(row) if row else None

    def user_by_name(self, name: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        return dict(row) if row else None

    def user_by_feed_token(self, token: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM users WHERE feed_token = ?", (token,)).fetchone()
        return dict(row) if row else None

    def users(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM users ORDER BY name")]

    def set_password(self, user_id: int, password_hash: str) -> None:
        """Change a password and end every session of that user."""
        with self.write() as conn:
            conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))
            conn.execute("DELETE FROM admin_sessions WHERE user_id = ?", (user_id,))

    def reset_feed_token(self, user_id: int) -> str:
        token = secrets.token_urlsafe(24)
        with self.write() as conn:
            conn.execute("UPDATE users SET feed_token = ? WHERE id = ?", (token, user_id))
        return token

    def delete_user(self, user_id: int) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM admin_sessions WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM users WHERE id = ?", (user_id,))

    # sessions

    def create_session(
        self, key: str, user_id: int, csrf: str, *, now: float, expires_at: float,
        address: str = "", user_agent: str = "",
    ) -> None:
        """Store a session under ``key`` (a hash of the cookie's token); expired ones are purged."""
        with self.write() as conn:
            conn.execute("DELETE FROM admin_sessions WHERE expires_at < ?", (now,))
            conn.execute(
                "INSERT INTO admin_sessions (id, user_id, csrf, created_at, seen_at, expires_at,"
                " address, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, user_id, csrf, now, now, expires_at, address[:64], user_agent[:300]),
            )
            conn.execute("UPDATE users SET last_login = ? WHERE id = ?", (isotime(utcnow()), user_id))

    def session(self, key: str, *, now: float) -> dict[str, Any] | None:
        """The live session stored under ``key``, with ``user_name``; ``None`` if absent or expired."""
        row = self.conn.execute(
            "SELECT s.*, u.name AS user_name FROM admin_sessions s JOIN users u ON u.id = s.user_id"
            " WHERE s.id = ? AND s.expires_at >= ?",
            (key, now),
        ).fetchone()
        return dict(row) if row else None

    def touch_session(self, key: str, *, now: float, expires_at: float) -> None:
        with self.write() as conn:
            conn.execute(
                "UPDATE admin_sessions SET seen_at = ?, expires_at = ? WHERE id = ?",
                (now, expires_at, key),
            )

    def delete_session(self, key: str) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM admin_sessions WHERE id = ?", (key,))

    # login throttling

    def login_lock(self, keys: Iterable[str], *, now: float) -> float:
        """Seconds until every one of ``keys`` may try to log in again (0 when none is locked)."""
        keys = list(keys)
        row = self.conn.execute(
            "SELECT MAX(locked_until) FROM login_failures WHERE key IN (%s) AND locked_until > ?"
            % ", ".join("?" * len(keys)),
            (*keys, now),
        ).fetchone()
        return max(0.0, row[0] - now) if row and row[0] else 0.0

    def add_login_failure(
        self, limits: Mapping[str, int], *, now: float, window: float, lockout: float
    ) -> None:
        """Count a failed login against each key; a key reaching its limit is locked out.

        :param limits: key → failures allowed within ``window`` seconds.
        :param lockout: seconds a key stays locked once it reached its limit.
        """
        with self.write() as conn:
            for key, limit in limits.items():
                conn.execute(
                    "INSERT INTO login_failures (key, failures, first_at) VALUES (?, 1, ?)"
                    " ON CONFLICT (key) DO UPDATE SET"
                    " failures = CASE WHEN first_at < ? THEN 1 ELSE failures + 1 END,"
                    " first_at = CASE WHEN first_at < ? THEN excluded.first_at ELSE first_at END",
                    (key, now, now - window, now - window),
                )
                conn.execute(
                    "UPDATE login_failures SET locked_until = ?, failures = 0, first_at = ?"
                    " WHERE key = ? AND failures >= ?",
                    (now + lockout, now, key, limit),
                )
            conn.execute(
                "DELETE FROM login_failures WHERE first_at < ? AND (locked_until IS NULL OR locked_until < ?)",
                (now - window, now),
            )

    def clear_login_failures(self, key: str) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM login_failures WHERE key = ?", (key,))

    # the linkbacks table

    def admin_linkbacks(
        self,
        *,
        status: str | None = None,
        kind: str | None = None,
        site: str | None = None,
        target: str | None = None,
        search: str | None = None,
        sort: str = "value",
        descending: bool = True,
        after: tuple[Any, int] | None = None,
        before: tuple[Any, int] | None = None,
        limit: int = 50,
    ) -> dict[str, Any]:
        """One page of linkbacks for the admin, by keyset: ``{"rows", "total", "more"}``.

        ``after`` / ``before`` is the (sort value, id) of the last / first row of the page
        the visitor comes from; ``more`` says whether rows lie beyond the page in the
        direction of travel. Keyset pages cost the same at row 90,000 as at row 1, where
        ``OFFSET`` reads and throws away every earlier row.

        The plan is picked from the match count: when the filter matches many rows, walk
        the sort column's index and keep matching rows (about ``limit × total / matches``
        rows are read); when it matches few, read just those through the filter's index
        and sort them. Either way at most about ``sqrt(limit × total)`` rows are touched.
        """
        column = self.ADMIN_SORTS.get(sort)
        if column is None:
            raise ValueError("sort must be one of %s" % ", ".join(self.ADMIN_SORTS))
        # "{p}" becomes "+" when the plan must not use the filter columns' own indexes.
        where: list[str] = []
        params: list[Any] = []
        for name, wanted in (("status", status), ("kind", kind), ("site", site), ("target", target)):
            if wanted is not None:
                where.append("{p}%s = ?" % name)
                params.append(wanted)
        if search:
            # LIKE ignores ASCII case; wildcards typed in the search are taken literally.
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(
                "(" + " OR ".join(
                    "%s LIKE ? ESCAPE '\\'" % c for c in ("source", "permalink", "title", "target")
                ) + ")"
            )
            params.extend(["%" + escaped + "%"] * 4)
        conn = self.conn
        clause = " AND ".join(where).replace("{p}", "")
        # Paging backwards runs the query in the opposite order, then flips the page.
        backwards = before is not None
        down = descending != backwards
        cursor = before if backwards else after
        if search:
            return self._admin_search(clause, params, column, down, cursor, backwards, limit)
        total = conn.execute(
            "SELECT COUNT(*) FROM linkbacks" + (" WHERE " + clause if where else ""), params
        ).fetchone()[0]
        if total == 0:
            return {"rows": [], "total": 0, "more": False}
        everything = conn.execute("SELECT COUNT(*) FROM linkbacks").fetchone()[0] if where else total
        walk_index = total * total >= limit * everything
        conditions = [c.replace("{p}", "+" if walk_index else "") for c in where]
        values = list(params)
        if cursor is not None:
            plus = "" if walk_index else "+"
            conditions.append("(%s%s, %sid) %s (?, ?)" % (plus, column, plus, "<" if down else ">"))
            values.extend(cursor)
        direction = "DESC" if down else "ASC"
        sql = "SELECT * FROM linkbacks%s ORDER BY %s%s %s, id %s LIMIT %d" % (
            " WHERE " + " AND ".join(conditions) if conditions else "",
            "" if walk_index else "+", column, direction, direction, int(limit) + 1,
        )
        rows = [dict(r) for r in conn.execute(sql, values)]
        more = len(rows) > limit
        rows = rows[:limit]
        if backwards:
            rows.reverse()
        for row in rows:
            row["fraud_pct"] = counting.fraud_pct(row["hits"], row["value"])
        return {"rows": rows, "total": total, "more": more}

    def _admin_search(
        self, clause: str, params: list[Any], column: str, down: bool,
        cursor: tuple[Any, int] | None, backwards: bool, limit: int,
    ) -> dict[str, Any]:
        # A text search must read every row whatever the plan, so it reads them once, in
        # table order (NOT INDEXED: a sequential scan beats index look-ups of most rows),
        # keeping only the sort key of matches; the page is picked from those keys.
        keys = [
            tuple(r) for r in self.conn.execute(
                "SELECT %s, id FROM linkbacks NOT INDEXED WHERE %s" % (column, clause), params
            )
        ]
        total = len(keys)
        if cursor is not None:
            try:
                keys = [k for k in keys if (k < cursor if down else k > cursor)]
            except TypeError:
                raise ValueError("bad page cursor") from None
        chosen = heapq.nlargest(limit + 1, keys) if down else heapq.nsmallest(limit + 1, keys)
        more = len(chosen) > limit
        order = {k[1]: n for n, k in enumerate(chosen[:limit])}
        rows = []
        if order:
            rows = [
                dict(r) for r in self.conn.execute(
                    "SELECT * FROM linkbacks WHERE id IN (%s)" % ", ".join("?" * len(order)), list(order)
                )
            ]
        rows.sort(key=lambda row: order[row["id"]], reverse=backwards)
        for row in rows:
            row["fraud_pct"] = counting.fraud_pct(row["hits"], row["value"])
        return {"rows": rows, "total": total, "more": more}

    # actions on linkbacks

    def approve_linkbacks(self, ids: Iterable[int]) -> tuple[int, int]:
        """Publish linkbacks by hand; return (approved, sent back to verification).

        Only a linkback that was verified at some point can be approved (status
        ``verified``, ``approved = 1``): nothing unverified is ever displayed. A hidden one
        that never was verified goes back to ``pending`` with its crawl job due now.
        """
        ids = [int(i) for i in ids]
        if not ids:
            return 0, 0
        marks = ", ".join("?" * len(ids))
        now = time.time()
        stamp = isotime(utcnow())
        with self.write() as conn:
            approved = conn.execute(
                "UPDATE linkbacks SET status = 'verified', approved = 1, updated_at = ?"
                " WHERE id IN (%s) AND verified_at IS NOT NULL AND status IN ('held', 'hidden', 'verified')"
                % marks,
                (stamp, *ids),
            ).rowcount
            requeue = [
                r[0] for r in conn.execute(
                    "SELECT id FROM linkbacks WHERE id IN (%s) AND verified_at IS NULL"
                    " AND status = 'hidden'" % marks, ids,
                )
            ]
            if requeue:
                conn.execute(
                    "UPDATE linkbacks SET status = 'pending', approved = 1, updated_at = ?"
                    " WHERE id IN (%s)" % ", ".join("?" * len(requeue)),
                    (stamp, *requeue),
                )
                self._schedule_now(conn, requeue, now)
        return approved, len(requeue)

    def set_linkbacks_status(self, ids: Iterable[int], status: str) -> int:
        """Set the status of linkbacks (``hidden``, ``blocked``); return how many changed."""
        if status not in STATUSES:
            raise ValueError("unknown status %r" % status)
        ids = [int(i) for i in ids]
        if not ids:
            return 0
        with self.write() as conn:
            return conn.execute(
                "UPDATE linkbacks SET status = ?, updated_at = ? WHERE id IN (%s) AND status != ?"
                % ", ".join("?" * len(ids)),
                (status, isotime(utcnow()), *ids, status),
            ).rowcount

    def delete_linkbacks(self, ids: Iterable[int]) -> int:
        """Delete linkbacks with their counts, aliases, crawl job and crawl history."""
        ids = [int(i) for i in ids]
        if not ids:
            return 0
        marks = ", ".join("?" * len(ids))
        with self.write() as conn:
            for table in ("referrers", "daily", "jobs", "fetches"):
                conn.execute("DELETE FROM %s WHERE linkback_id IN (%s)" % (table, marks), ids)
            return conn.execute("DELETE FROM linkbacks WHERE id IN (%s)" % marks, ids).rowcount

    def recrawl_linkbacks(self, ids: Iterable[int], *, now: float | None = None) -> int:
        """Make the crawl jobs of linkbacks due now, with a fresh count of attempts."""
        ids = [int(i) for i in ids]
        if not ids:
            return 0
        with self.write() as conn:
            return self._schedule_now(conn, ids, time.time() if now is None else now)

    @staticmethod
    def _schedule_now(conn: sqlite3.Connection, ids: list[int], now: float) -> int:
        marks = ", ".join("?" * len(ids))
        conn.execute(
            "INSERT OR IGNORE INTO jobs (linkback_id, url, due_at, created_at)"
            " SELECT id, permalink, ?, ? FROM linkbacks WHERE id IN (%s)" % marks,
            (now, now, *ids),
        )
        return conn.execute(
            "UPDATE jobs SET due_at = ?, attempts = 0, last_error = NULL, lease_owner = NULL,"
            " lease_until = NULL WHERE linkback_id IN (%s)" % marks,
            (now, *ids),
        ).rowcount

    def linkbacks_containing(self, fragment: str, *, limit: int = 100_000) -> list[dict[str, Any]]:
        """Linkbacks whose source or permalink contains ``fragment`` (lower-case), for matching
        blacklist patterns in Python: ``id``, ``source``, ``permalink``, ``target``,
        ``status``, ``title``."""
        return [
            dict(r)
            for r in self.conn.execute(
                "SELECT id, source, permalink, target, status, title FROM linkbacks"
                " WHERE instr(lower(source), ?) OR instr(lower(permalink), ?) ORDER BY value DESC, id"
                " LIMIT ?",
                (fragment, fragment, limit),
            )
        ]

    # pages of the admin

    def admin_overview(self, *, now: float | None = None) -> dict[str, Any]:
        """Totals by status, new this week, top linkbacks and crawl queue health."""
        now = time.time() if now is None else now
        conn = self.conn
        by_status = {s: 0 for s in STATUSES}
        for status, count in conn.execute("SELECT status, COUNT(*) FROM linkbacks GROUP BY status"):
            by_status[status] = count
        week_ago = isotime(dt.datetime.fromtimestamp(now - 7 * 86400, dt.UTC))
        new_week = conn.execute(
            "SELECT COUNT(*) FROM linkbacks WHERE first_seen >= ?", (week_ago,)
        ).fetchone()[0]
        verified_week = conn.execute(
            "SELECT COUNT(*) FROM linkbacks WHERE verified_at >= ?", (week_ago,)
        ).fetchone()[0]
        top = [
            dict(r)
            for r in conn.execute(
                "SELECT id, source, permalink, target, title, status, hits, value, visitors"
                " FROM linkbacks WHERE status IN ('verified', 'held') ORDER BY value DESC, id LIMIT 10"
            )
        ]
        jobs = conn.execute(
            "SELECT COUNT(*), SUM(due_at <= ?), SUM(last_error IS NOT NULL), MIN(CASE WHEN due_at <= ?"
            " THEN due_at END), SUM(lease_until > ?) FROM jobs",
            (now, now, now),
        ).fetchone()
        return {
            "total": sum(by_status.values()),
            "by_status": by_status,
            "new_week": new_week,
            "verified_week": verified_week,
            "top": top,
            "jobs": jobs[0] or 0,
            "jobs_due": jobs[1] or 0,
            "jobs_failing": jobs[2] or 0,
            "oldest_due": jobs[3],
            "jobs_running": jobs[4] or 0,
            "dropped_hits": self.counter("dropped_hits"),
        }

    def crawl_history(self, linkback_id: int, *, limit: int = 50) -> list[dict[str, Any]]:
        """A linkback's fetches, newest first: time, URL, HTTP status, outcome, detail."""
        return [
            dict(r)
            for r in self.conn.execute(
                "SELECT fetched_at, url, http_status, outcome, detail FROM fetches"
                " WHERE linkback_id = ? ORDER BY id DESC LIMIT ?",
                (linkback_id, limit),
            )
        ]

    def crawl_job(self, linkback_id: int) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM jobs WHERE linkback_id = ?", (linkback_id,)).fetchone()
        return dict(row) if row else None

    def recently_verified(self, *, limit: int = 50) -> list[dict[str, Any]]:
        """Linkbacks verified most recently (published or held for approval), newest first."""
        return [
            dict(r)
            for r in self.conn.execute(
                "SELECT * FROM linkbacks WHERE verified_at IS NOT NULL"
                " AND status IN ('verified', 'held') ORDER BY verified_at DESC, id DESC LIMIT ?",
                (limit,),
            )
        ]

    def site(self, host: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM sites WHERE host = ?", (host,)).fetchone()
        if row is None:
            return None
        item = dict(row)
        try:
            item["display"] = json.loads(item["display"] or "{}")
        except ValueError:
            item["display"] = {}
        return item

    def add_site(self, host: str, *, moderation: str = "auto") -> bool:
        """Add a site; ``False`` when it was already there."""
        if moderation not in ("auto", "hold"):
            raise ValueError("moderation must be 'auto' or 'hold'")
        with self.write() as conn:
            return conn.execute(
                "INSERT OR IGNORE INTO sites (host, moderation, created_at) VALUES (?, ?, ?)",
                (host, moderation, isotime(utcnow())),
            ).rowcount == 1

    def set_site_moderation(self, host: str, moderation: str) -> None:
        """``auto`` publishes verified linkbacks at once; ``hold`` keeps them for approval."""
        if moderation not in ("auto", "hold"):
            raise ValueError("moderation must be 'auto' or 'hold'")
        with self.write() as conn:
            conn.execute("UPDATE sites SET moderation = ? WHERE host = ?", (moderation, host))

    def remove_site(self, host: str) -> None:
        """Forget a site's settings; its linkbacks stay."""
        with self.write() as conn:
            conn.execute("DELETE FROM sites WHERE host = ?", (host,))

    def site_counts(self) -> dict[str, dict[str, int]]:
        """Linkbacks per site and status."""
        counts: dict[str, dict[str, int]] = {}
        for site, status, count in self.conn.execute(
            "SELECT site, status, COUNT(*) FROM linkbacks GROUP BY site, status"
        ):
            counts.setdefault(site, {})[status] = count
        return counts

    # --- crawl queue --------------------------------------------------------------------------

    def due_jobs(self, *, now: float | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Jobs whose time has come and that nobody holds, oldest first (read only)."""
        now = time.time() if now is None else now
        return [
            dict(r)
            for r in self.conn.execute(
                "SELECT * FROM jobs WHERE due_at <= ? AND (lease_until IS NULL OR lease_until < ?)"
                " ORDER BY due_at LIMIT ?",
                (now, now, limit),
            )
        ]

    # --- crawl --------------------------------------------------------------------------------

    #: Linkback columns a crawl result may set.
    CRAWL_COLUMNS = (
        "title", "blurb", "blurb_start", "blurb_end", "author_name", "author_url", "author_photo",
        "published", "site_name", "favicon", "points", "comments", "final_url",
    )

    def claim_jobs(
        self,
        owner: str,
        *,
        limit: int = 10,
        lease: float = 120.0,
        now: float | None = None,
        exclude: Iterable[int] = (),
        per_host: bool = False,
    ) -> list[dict[str, Any]]:
        """Lease up to ``limit`` due jobs to ``owner``, atomically; return them with their linkback.

        The select and the lease happen in one ``BEGIN IMMEDIATE`` transaction, so two
        processes never claim the same job; a lease left by a crashed worker expires after
        ``lease`` seconds and the job is due again. Each job gives ``linkback_id``, ``url``,
        ``host``, ``attempts``, ``checks``, ``target``, ``site``, ``kind``, ``status``,
        ``permalink``.

        With ``per_host``, at most one job per host is handed out, only for hosts that are
        neither busy (leased to an unexpired claim) nor before their ``next_at``, and those
        hosts become busy for ``owner`` until :meth:`release_host` (or until ``lease`` runs
        out, should the process die). Several processes sharing the database thus never
        have two requests in flight to one host.

        >>> jobs = store.claim_jobs("worker-1", limit=20, lease=300, per_host=True)  # doctest: +SKIP
        """
        now = time.time() if now is None else now
        if per_host:
            return self._claim_per_host(owner, limit=int(limit), lease=lease, now=now,
                                        skip=[int(i) for i in exclude])
        skip = [int(i) for i in exclude]
        sql = (
            "SELECT j.linkback_id, j.url, j.attempts, j.checks, j.due_at, l.target, l.site, l.kind,"
            " l.status, l.permalink, l.source FROM jobs j JOIN linkbacks l ON l.id = j.linkback_id"
            " WHERE j.due_at <= ? AND (j.lease_until IS NULL OR j.lease_until < ?)"
        )
        if skip:
            sql += " AND j.linkback_id NOT IN (%s)" % ", ".join("?" * len(skip))
        sql += " ORDER BY j.due_at LIMIT ?"
        with self.write() as conn:
            rows = [dict(r) for r in conn.execute(sql, (now, now, *skip, int(limit)))]
            conn.executemany(
                "UPDATE jobs SET lease_owner = ?, lease_until = ? WHERE linkback_id = ?",
                [(owner, now + lease, row["linkback_id"]) for row in rows],
            )
        for row in rows:
            row["host"] = self.crawl_host(row["url"])
        return rows

    #: Due jobs looked at per claim when skipping busy hosts: bounds the cost of a claim
    #: when a single host holds a long backlog.
    CLAIM_SCAN = 5000

    def _claim_per_host(self, owner: str, *, limit: int, lease: float, now: float,
                        skip: list[int]) -> list[dict[str, Any]]:
        sql = (
            "SELECT j.linkback_id, j.url, j.attempts, j.checks, j.due_at, l.target, l.site, l.kind,"
            " l.status, l.permalink, l.source FROM jobs j JOIN linkbacks l ON l.id = j.linkback_id"
            " WHERE j.due_at <= ? AND (j.lease_until IS NULL OR j.lease_until < ?)"
            " ORDER BY j.due_at LIMIT ?"
        )
        excluded = set(skip)
        picked: list[dict[str, Any]] = []
        with self.write() as conn:
            conn.execute(
                "DELETE FROM crawl_hosts WHERE (busy_until IS NULL OR busy_until < ?) AND next_at <= ?",
                (now, now),
            )
            taken = {r[0] for r in conn.execute("SELECT host FROM crawl_hosts")}
            cursor = conn.execute(sql, (now, now, self.CLAIM_SCAN))
            while len(picked) < limit:
                chunk = cursor.fetchmany(200)
                if not chunk:
                    break
                for r in chunk:
                    host = self.crawl_host(r["url"])
                    if r["linkback_id"] in excluded or host in taken:
                        continue
                    taken.add(host)
                    row = dict(r)
                    row["host"] = host
                    picked.append(row)
                    if len(picked) >= limit:
                        break
            cursor.close()
            conn.executemany(
                "UPDATE jobs SET lease_owner = ?, lease_until = ? WHERE linkback_id = ?",
                [(owner, now + lease, row["linkback_id"]) for row in picked],
            )
            conn.executemany(
                "INSERT INTO crawl_hosts (host, busy_owner, busy_until) VALUES (?, ?, ?)"
                " ON CONFLICT (host) DO UPDATE SET busy_owner = excluded.busy_owner,"
                " busy_until = excluded.busy_until",
                [(row["host"], owner, now + lease) for row in picked],
            )
        return picked

    def lease_host(self, host: str, owner: str, *, lease: float = 120.0, now: float | None = None) -> bool:
        """Make ``host`` busy for ``owner``, as :meth:`claim_jobs` does for a job's host, when it
        is neither busy nor before its ``next_at``; False when it is (nothing changes then).

        For a request a job makes besides its own page (the author's page on another host of
        the site); free the host with :meth:`release_host`.
        """
        now = time.time() if now is None else now
        with self.write() as conn:
            conn.execute(
                "DELETE FROM crawl_hosts WHERE host = ? AND (busy_until IS NULL OR busy_until < ?) AND next_at <= ?",
                (host, now, now),
            )
            cursor = conn.execute(
                "INSERT OR IGNORE INTO crawl_hosts (host, busy_owner, busy_until) VALUES (?, ?, ?)",
                (host, owner, now + lease),
            )
            return cursor.rowcount == 1

    def release_host(self, host: str, owner: str, *, next_at: float | None = None) -> None:
        """Free ``host`` claimed by ``owner``; with ``next_at``, no claim gets it before then.

        ``next_at=None`` (a job given back unfetched) keeps the host's earlier ``next_at``.

        >>> store.release_host("blog.example", "worker-1", next_at=time.time() + 2.0)  # doctest: +SKIP
        """
        with self.write() as conn:
            conn.execute(
                "UPDATE crawl_hosts SET busy_owner = NULL, busy_until = NULL,"
                " next_at = coalesce(?, next_at) WHERE host = ? AND busy_owner = ?",
                (next_at, host, owner),
            )

    @staticmethod
    def crawl_host(url: str) -> str:
        """The host politeness is kept for: the URL's lower-cased host name ("" if none)."""
        try:
            return (urlsplit(url).hostname or "").lower()
        except ValueError:
            return ""

    def release_job(self, linkback_id: int, owner: str, *, due_at: float | None = None) -> None:
        """Give a claimed job back unchanged (a stopping crawler), due at ``due_at`` or as it was."""
        with self.write() as conn:
            conn.execute(
                "UPDATE jobs SET lease_owner = NULL, lease_until = NULL, due_at = coalesce(?, due_at)"
                " WHERE linkback_id = ? AND lease_owner = ?",
                (due_at, linkback_id, owner),
            )

    def count_due_jobs(self, *, now: float | None = None) -> int:
        """Jobs due now and not leased."""
        now = time.time() if now is None else now
        return self.conn.execute(
            "SELECT COUNT(*) FROM jobs WHERE due_at <= ? AND (lease_until IS NULL OR lease_until < ?)",
            (now, now),
        ).fetchone()[0]

    @staticmethod
    def _record_fetch(conn: sqlite3.Connection, linkback_id: int, fetch: Mapping[str, Any] | None) -> None:
        if not fetch:
            return
        conn.execute(
            "INSERT INTO fetches (linkback_id, fetched_at, url, http_status, outcome, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (linkback_id, fetch.get("fetched_at") or isotime(utcnow()), fetch.get("url") or "",
             fetch.get("http_status"), fetch.get("outcome") or "unknown", fetch.get("detail")),
        )

    def record_fetch(self, linkback_id: int, *, url: str, outcome: str, http_status: int | None = None,
                     detail: str | None = None) -> None:
        """Add one line to a linkback's crawl history."""
        with self.write() as conn:
            self._record_fetch(conn, linkback_id, {"url": url, "outcome": outcome,
                                                   "http_status": http_status, "detail": detail})

    def retry_job(
        self,
        linkback_id: int,
        owner: str,
        *,
        error: str,
        due_at: float,
        give_up: bool,
        fetch: Mapping[str, Any] | None = None,
    ) -> str | None:
        """Record a transient failure; the job is due again at ``due_at``.

        With ``give_up`` (tries exhausted), a linkback never verified becomes ``error``; one
        verified before keeps its status (a site down for a day is not gone) and is simply
        checked again at ``due_at``. Returns the linkback's status after, ``None`` if the job
        was no longer ours.
        """
        with self.write() as conn:
            self._record_fetch(conn, linkback_id, fetch)
            changed = conn.execute(
                "UPDATE jobs SET attempts = CASE WHEN ? THEN 0 ELSE attempts + 1 END, last_error = ?,"
                " due_at = ?, lease_owner = NULL, lease_until = NULL"
                " WHERE linkback_id = ? AND (lease_owner = ? OR lease_owner IS NULL)",
                (int(give_up), error[:500], due_at, linkback_id, owner),
            ).rowcount
            if not changed:
                return None
            if give_up:
                conn.execute(
                    "UPDATE linkbacks SET status = 'error', updated_at = ? WHERE id = ?"
                    " AND verified_at IS NULL AND status IN ('pending', 'unverified', 'error')",
                    (isotime(utcnow()), linkback_id),
                )
            row = conn.execute("SELECT status FROM linkbacks WHERE id = ?", (linkback_id,)).fetchone()
        return row[0] if row else None

    def apply_crawl(
        self,
        linkback_id: int,
        owner: str,
        result: Mapping[str, Any],
        *,
        next_check_at: float | None,
        fetch: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Store what a crawl found and decide the linkback's status, in one transaction.

        ``result`` holds ``verified`` (the page links to the target), ``gone`` (404/410 or
        a ``Status: 410`` meta), ``permalink``, ``content_hash``, optionally ``kind`` and the
        display columns of :data:`CRAWL_COLUMNS`. The rules:

        * ``blocked`` and ``hidden`` keep their status (details are still updated);
        * verified on a site whose moderation is ``hold``: ``held``, unless approved before
          with unchanged content; approved content that changed goes back to ``held``;
        * verified elsewhere: ``verified``;
        * not linking (or gone) after having been verified: ``gone``; never verified:
          ``unverified``.

        When the permalink differs from the linkback's and another linkback already has
        (permalink, target), this one is merged into it (daily bins summed, totals
        recomputed, referrers and history moved) and deleted. The job is rescheduled at
        ``next_check_at`` (or removed when ``None``). Returns ``id`` (the surviving
        linkback), ``status``, ``merged_into`` (or ``None``); ``None`` if the job was no
        longer ours (deleted or leased to another worker after our lease ran out).
        """
        stamp = isotime(utcnow())
        with self.write() as conn:
            job = conn.execute(
                "SELECT lease_owner FROM jobs WHERE linkback_id = ?", (linkback_id,)
            ).fetchone()
            if job is None or job[0] not in (owner, None):
                return None
            row = conn.execute("SELECT * FROM linkbacks WHERE id = ?", (linkback_id,)).fetchone()
            if row is None:
                conn.execute("DELETE FROM jobs WHERE linkback_id = ?", (linkback_id,))
                return None
            self._record_fetch(conn, linkback_id, fetch)
            merged_into = None
            permalink = result.get("permalink")
            if permalink and permalink != row["permalink"]:
                other = conn.execute(
                    "SELECT * FROM linkbacks WHERE permalink = ? AND target = ? AND id != ?",
                    (permalink, row["target"], linkback_id),
                ).fetchone()
                if other is None:
                    conn.execute("UPDATE linkbacks SET permalink = ? WHERE id = ?", (permalink, linkback_id))
                    conn.execute(
                        "INSERT OR IGNORE INTO referrers (url, target, linkback_id) VALUES (?, ?, ?)",
                        (permalink, row["target"], linkback_id),
                    )
                else:
                    self._merge_linkback(conn, row, other)
                    merged_into = other["id"]
                    row = other
            status = self._crawl_status(conn, row, result)
            values: dict[str, Any] = {"status": status, "updated_at": stamp}
            if result.get("verified") and not result.get("gone"):
                # What a reader sees changes only with a page that still links to us: a
                # gone linkback keeps the title and blurb it had, as history.
                values.update((c, result.get(c)) for c in self.CRAWL_COLUMNS if c in result)
                values["content_hash"] = result.get("content_hash")
                values["verified_at"] = stamp
                if result.get("kind") == "discussion" and row["kind"] == "referrer":
                    values["kind"] = "discussion"
            elif result.get("final_url"):
                values["final_url"] = result["final_url"]
            if status == "held" and row["approved"]:
                values["approved"] = 0
            conn.execute(
                "UPDATE linkbacks SET %s WHERE id = ?" % ", ".join("%s = ?" % c for c in values),
                (*values.values(), row["id"]),
            )
            if next_check_at is None:
                conn.execute("DELETE FROM jobs WHERE linkback_id = ?", (row["id"],))
            else:
                conn.execute(
                    "INSERT INTO jobs (linkback_id, url, due_at, created_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (linkback_id) DO UPDATE SET url = excluded.url, due_at = excluded.due_at,"
                    " attempts = 0, checks = checks + 1, last_error = NULL, lease_owner = NULL,"
                    " lease_until = NULL",
                    (row["id"], result.get("fetch_url") or row["permalink"], next_check_at, time.time()),
                )
        return {"id": row["id"], "status": status, "merged_into": merged_into}

    @staticmethod
    def _crawl_status(conn: sqlite3.Connection, row: sqlite3.Row, result: Mapping[str, Any]) -> str:
        current = row["status"]
        if current in ("blocked", "hidden"):
            return current
        if result.get("verified") and not result.get("gone"):
            site = conn.execute("SELECT moderation FROM sites WHERE host = ?", (row["site"],)).fetchone()
            if site is not None and site[0] == "hold":
                unchanged = row["content_hash"] is None or row["content_hash"] == result.get("content_hash")
                return "verified" if row["approved"] and unchanged else "held"
            return "verified"
        return "gone" if row["verified_at"] is not None else "unverified"

    def _merge_linkback(self, conn: sqlite3.Connection, row: sqlite3.Row, other: sqlite3.Row) -> None:
        """Fold linkback ``row`` into ``other`` (same entry reached through two URLs)."""
        gone_id, keep_id = row["id"], other["id"]
        hits = value = visitors = 0.0
        for day in conn.execute(
            "SELECT day, hits, value, visitors, bins FROM daily WHERE linkback_id = ?", (gone_id,)
        ).fetchall():
            mine = conn.execute(
                "SELECT hits, value, visitors, bins FROM daily WHERE linkback_id = ? AND day = ?",
                (keep_id, day["day"]),
            ).fetchone()
            if mine is None:
                merged_hits, old_value, old_visitors = day["hits"], 0.0, 0.0
                bins = counting.decode_bins(day["bins"])
            else:
                merged_hits, old_value, old_visitors = mine["hits"] + day["hits"], mine["value"], mine["visitors"]
                bins = counting.merge_bins(counting.decode_bins(mine["bins"]), counting.decode_bins(day["bins"]))
            new_value = counting.compensated_value(bins)
            new_visitors = counting.estimate_visitors(bins)
            conn.execute(
                "INSERT OR REPLACE INTO daily (linkback_id, day, hits, value, visitors, bins)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (keep_id, day["day"], merged_hits, new_value, new_visitors, counting.encode_bins(bins)),
            )
            hits += day["hits"]
            value += new_value - old_value
            visitors += new_visitors - old_visitors
        conn.execute(
            "UPDATE linkbacks SET hits = hits + ?, value = max(0, value + ?), visitors = max(0, visitors + ?),"
            " first_seen = min(first_seen, ?), last_seen = max(last_seen, ?) WHERE id = ?",
            (int(hits), value, visitors, row["first_seen"], row["last_seen"], keep_id),
        )
        # Future hits of the front page must land on the merged linkback.
        conn.execute(
            "UPDATE OR REPLACE referrers SET linkback_id = ? WHERE linkback_id = ?", (keep_id, gone_id)
        )
        conn.execute("UPDATE fetches SET linkback_id = ? WHERE linkback_id = ?", (keep_id, gone_id))
        conn.execute("UPDATE notifications SET linkback_id = ? WHERE linkback_id = ?", (keep_id, gone_id))
        for table in ("daily", "jobs"):
            conn.execute("DELETE FROM %s WHERE linkback_id = ?" % table, (gone_id,))
        conn.execute("DELETE FROM linkbacks WHERE id = ?", (gone_id,))
