"""The writer thread: takes raw hits off an in-memory queue and stores them in batches.

The request path only appends a tuple to a deque. The writer wakes every
``flush_interval`` seconds, or early when a batch has filled, applies the counting rules,
aggregates the batch and writes it in one ``BEGIN IMMEDIATE`` transaction. Waking per hit
was measured to cost a threaded server 30-40 % of its throughput, hence the timer.

When another process holds the write lock past the busy timeout, the counted batch is kept
and tried again at the next wake-up. When the database cannot take it at all (read-only,
missing, full, corrupt) the batch is dropped and counted; the application never notices.
"""

from __future__ import annotations

import atexit
import collections
import datetime as dt
import functools
import logging
import os
import secrets
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from . import counting
from .errors import LinkbackError
from .filters import Accepted, HitFilter, request_path
from .store import HitKey, Store

logger = logging.getLogger(__name__)

#: A raw hit as the middleware queues it:
#: (time, referer, host, script_name, path_info, query, scheme, address, user_agent).
RawHit = tuple[float, str, str, str, str, str, str, str, str]

#: Seconds between two warnings about dropped hits.
DROP_LOG_INTERVAL = 60.0
#: Seconds between reloads of the blacklist kept in the database.
BLACKLIST_RELOAD = 30.0


def utc_day(timestamp: float) -> str:
    """The UTC day of a Unix time, as ``YYYY-MM-DD``."""
    return _day_name(int(timestamp // 86400))


@functools.lru_cache(maxsize=64)
def _day_name(days: int) -> str:
    return (_EPOCH + dt.timedelta(days=days)).strftime("%Y-%m-%d")


_EPOCH = dt.date(1970, 1, 1)

#: Stores a forked child inherited from its parent. SQLite must not close (nor use) a
#: connection opened before fork(): closing it could checkpoint or unlink the parent's WAL.
#: Keeping a reference stops garbage collection from closing them.
_INHERITED: list[object] = []


class Aggregator:
    """Sums hits into (source, target, site, day) groups with their visitor bins.

    :param salt_for: returns the visitor-key salt of a day.
    """

    def __init__(self, salt_for: Callable[[str], bytes]) -> None:
        self.salt_for = salt_for
        self.groups: dict[HitKey, tuple[list[int], dict[int, int]]] = {}
        self.hits = 0
        self._salts: dict[str, bytes] = {}

    def add(self, accepted: Accepted, day: str, address: str, user_agent: str) -> None:
        salt = self._salts.get(day)
        if salt is None:
            salt = self._salts[day] = self.salt_for(day)
        index = counting.bin_of(counting.visitor_key(salt, address, user_agent))
        key = (accepted.source, accepted.target, accepted.site, day)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = ([0], {})
        group[0][0] += 1
        bins = group[1]
        bins[index] = bins.get(index, 0) + 1
        self.hits += 1

    def take(self) -> dict[HitKey, tuple[int, dict[int, int]]]:
        """The groups summed so far, as :meth:`Store.record_hits` takes them; then empty."""
        groups = {key: (count[0], bins) for key, (count, bins) in self.groups.items()}
        self.groups = {}
        self.hits = 0
        return groups


class HitWriter:
    """Owns the queue of raw hits and the thread that stores them.

    :param open_store: opens the store; called in the writer thread, again after failures.
    :param hit_filter: the counting rules.
    """

    def __init__(
        self,
        open_store: Callable[[], Store],
        hit_filter: HitFilter,
        *,
        queue_size: int,
        batch_size: int,
        flush_interval: float,
        on_store: Callable[[Store], None] | None = None,
    ) -> None:
        self.open_store = open_store
        self.filter = hit_filter
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.on_store = on_store
        self.queue: collections.deque[RawHit] = collections.deque()
        self.dropped = 0
        self.stored = 0
        self.skipped: collections.Counter[str] = collections.Counter()
        self._dropped_saved = 0
        #: Counted groups that a busy database could not take yet, and their hits.
        self._retry_groups: dict[HitKey, tuple[int, dict[int, int]]] = {}
        self._retry_hits = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._process_lock = threading.Lock()
        self._store: Store | None = None
        self._store_file: tuple[int, int] | None = None
        self._store_failed_at = 0.0
        self._last_drop_log = 0.0
        self._dropped_logged = 0
        self._blacklist_loaded = 0.0
        self._salts: dict[str, bytes] = {}
        # Flush at a normal exit even if whoever made this writer has let go of it: the
        # running thread keeps the writer alive, and with it the queued hits.
        atexit.register(_close_at_exit, weakref.ref(self))

    # --- request path -------------------------------------------------------------------------

    def put(self, hit: RawHit) -> None:
        """Queue a hit. Never blocks: when the queue is full the hit is dropped and counted."""
        queue = self.queue
        if len(queue) >= self.queue_size:
            self.dropped += 1
            return
        queue.append(hit)
        if len(queue) >= self.batch_size:
            self._wake.set()

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="linkback-writer", daemon=True)
        self._thread.start()

    def after_fork(self) -> None:
        """In a forked child the thread is gone and the parent's connections must not be used."""
        self._thread = None
        if self._store is not None:
            _INHERITED.append(self._store)
        self._store = None
        self._store_file = None
        self._process_lock = threading.Lock()
        self._wake = threading.Event()
        self.queue.clear()
        self._retry_groups, self._retry_hits = {}, 0

    def flush(self) -> None:
        """Store everything queued so far, in the calling thread, before returning."""
        self._process()

    def close(self, timeout: float = 5.0) -> None:
        """Flush, stop the thread and close the database."""
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._process()
        for _ in range(3):  # a busy database at exit: a few more busy-timeouts' worth of tries
            if not (self._retry_hits or self.queue):
                break
            self._process()
        if self._retry_hits or self.queue:
            self.dropped += self._retry_hits + len(self._take(len(self.queue)))
            self._retry_groups, self._retry_hits = {}, 0
            self._log_drop("the database stayed busy at exit")
            self._save_dropped()
        if self._store is not None:
            self._store.close()
            self._store = None

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            try:
                self._process()
            except Exception:  # keep the thread alive whatever happens
                logger.exception("linkback writer failed")

    # --- processing ---------------------------------------------------------------------------

    def _get_store(self) -> Store | None:
        if self._store is not None:
            if self._store_file is None or self._store_file == _file_id(self._store.path):
                return self._store
            # The file was deleted or replaced under us: writing on would go to an unlinked
            # inode and be lost. Open the path again (which creates a fresh database).
            logger.warning("linkback: %s was removed or replaced; reopening it", self._store.path)
            self._store.close()
            self._store = None
        if time.monotonic() - self._store_failed_at < 1.0:
            return None
        try:
            self._store = self.open_store()
            self._store_file = _file_id(self._store.path)
        except LinkbackError as e:
            self._store_failed_at = time.monotonic()
            self._log_drop("cannot open the database: %s" % e)
            return None
        if self.on_store is not None:
            try:
                self.on_store(self._store)
            except LinkbackError as e:
                logger.warning("linkback: %s", e)
        return self._store

    def _salt_for(self, day: str) -> bytes:
        salt = self._salts.get(day)
        if salt is None:
            store = self._store
            if store is None:
                raise LinkbackError("no database")
            salt = store.salt(day)
            self._salts = {day: salt}  # keep only today's: yesterday's must be forgotten
        return salt

    def _process(self) -> None:
        with self._process_lock:
            if self._retry_hits:
                store = self._get_store()
                if store is None or not self._store_groups(store, {}, 0):
                    return
            while self.queue:
                store = self._get_store()
                if store is None:
                    self._drop_queued()
                    return
                self._reload_blacklist(store)
                batch = self._take(self.batch_size * 10)
                if not self._write(store, batch):
                    break  # the database is busy: leave the rest queued for the next wake-up
            if self.dropped > self._dropped_logged:
                self._log_drop("the queue was full")
            self._save_dropped()

    def _take(self, limit: int) -> list[RawHit]:
        queue = self.queue
        batch = []
        popleft = queue.popleft
        try:
            for _ in range(limit):
                batch.append(popleft())
        except IndexError:
            pass
        return batch

    def _drop_queued(self) -> None:
        lost = len(self._take(len(self.queue)))
        self.dropped += lost
        self._log_drop("database unavailable")

    def _write(self, store: Store, batch: list[RawHit]) -> bool:
        """Count and store one batch; False when the database was busy."""
        aggregator = Aggregator(self._salt_for)
        check = self.filter.check
        skipped: collections.Counter[str] = collections.Counter()
        not_counted = 0
        try:
            for stamp, referer, host, script, path, query, scheme, address, agent in batch:
                result = check(referer, host, request_path(script, path), query, scheme, agent)
                if isinstance(result, Accepted):
                    aggregator.add(result, utc_day(stamp), address, agent)
                else:
                    skipped[result.reason] += 1
                    not_counted += 1
        except LinkbackError as e:
            text = str(e).lower()
            if ("locked" in text or "busy" in text) and len(self.queue) + len(batch) <= self.queue_size:
                # The day's salt could not be read: count this batch again next time.
                self.queue.extendleft(reversed(batch))
                return False
            self.dropped += len(batch) - not_counted
            self._log_drop(str(e))
            self._reset_store_if_broken(e)
            return True
        except Exception:
            self.dropped += len(batch) - not_counted
            logger.exception("linkback: could not count a batch of %d hits", len(batch))
            return True
        self.skipped.update(skipped)
        count = aggregator.hits
        return self._store_groups(store, aggregator.take(), count)

    def _store_groups(self, store: Store, groups: dict[HitKey, tuple[int, dict[int, int]]], count: int) -> bool:
        """Write counted groups, with any kept from a busy moment; False if still busy.

        Another process holding the write lock past the busy timeout is a passing state
        (a long backfill, a slow disk): the counted groups are kept and tried again at the
        next wake-up instead of being lost. Only past ``queue_size`` kept hits, or on any
        other failure, are they dropped.
        """
        if self._retry_hits:
            for key, (hits, bins) in groups.items():
                kept = self._retry_groups.get(key)
                if kept is None:
                    self._retry_groups[key] = (hits, bins)
                else:
                    self._retry_groups[key] = (kept[0] + hits, counting.merge_bins(dict(kept[1]), bins))
            groups, count = self._retry_groups, count + self._retry_hits
            self._retry_groups, self._retry_hits = {}, 0
        if not count:
            return True
        try:
            store.record_hits(groups)
        except LinkbackError as e:
            text = str(e).lower()
            if ("locked" in text or "busy" in text) and count <= self.queue_size:
                self._retry_groups, self._retry_hits = groups, count
                logger.info("linkback: database busy, keeping %d counted hits for the next try", count)
                return False
            self.dropped += count
            self._log_drop(str(e))
            self._reset_store_if_broken(e)
            return True
        except Exception:
            self.dropped += count
            logger.exception("linkback: could not store a batch of %d hits", count)
            return True
        self.stored += count
        return True

    def _reset_store_if_broken(self, error: Exception) -> None:
        text = str(error).lower()
        if "locked" in text or "busy" in text:
            return
        # Read-only, gone, corrupt, disk I/O: open a fresh connection next time.
        if self._store is not None:
            self._store.close()
        self._store = None
        self._store_failed_at = time.monotonic()

    def _reload_blacklist(self, store: Store) -> None:
        """Pick up the blacklist patterns and sites kept in the database (the manager edits them)."""
        now = time.monotonic()
        if now - self._blacklist_loaded < BLACKLIST_RELOAD:
            return
        self._blacklist_loaded = now
        try:
            patterns = [row["pattern"] for row in store.blacklist()]
            hosts = [row["host"] for row in store.sites()]
        except LinkbackError:
            return
        except Exception:
            logger.exception("linkback: could not read the blacklist")
            return
        if patterns != getattr(self, "_last_patterns", None):
            self._last_patterns = patterns
            self.filter.set_extra_patterns(patterns)
        self.filter.set_sites(hosts)

    def reload_blacklist_soon(self) -> None:
        self._blacklist_loaded = 0.0

    def _save_dropped(self) -> None:
        pending = self.dropped - self._dropped_saved
        if pending <= 0 or self._store is None:
            return
        try:
            self._store.add_counter("dropped_hits", pending)
        except LinkbackError:
            return
        self._dropped_saved += pending

    def _log_drop(self, why: str) -> None:
        now = time.monotonic()
        if now - self._last_drop_log >= DROP_LOG_INTERVAL:
            logger.warning(
                "linkback dropped %d hits since the last warning (%s); the site is unaffected",
                self.dropped - self._dropped_logged, why,
            )
            self._last_drop_log = now
            self._dropped_logged = self.dropped

    def stats(self) -> dict[str, Any]:
        return {
            "queued": len(self.queue),
            "stored": self.stored,
            "dropped": self.dropped,
            "skipped": dict(self.skipped),
        }


def _close_at_exit(ref: Callable[[], HitWriter | None]) -> None:
    writer = ref()
    if writer is not None:
        try:
            writer.close()
        except Exception:
            logger.exception("linkback: flush at exit failed")


def _file_id(path: str) -> tuple[int, int] | None:
    if path == ":memory:" or path.startswith("file:"):
        return None
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1)
    return (st.st_dev, st.st_ino)


def ephemeral_salts() -> Callable[[str], bytes]:
    """Salts kept only in memory, for backfilling past days from logs."""
    salts: dict[str, bytes] = {}

    def salt_for(day: str) -> bytes:
        if day not in salts:
            salts[day] = secrets.token_bytes(32)
        return salts[day]

    return salt_for
