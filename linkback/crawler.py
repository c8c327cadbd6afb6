"""The crawler: fetch each referring page, verify it links to us, store what it says.

A thin loop over pure parts: :class:`~linkback.store.Store` hands out jobs under a lease
(atomically, so several processes never fetch one job twice), :func:`~linkback.fetch.fetch`
gets the page with the SSRF defences, :func:`~linkback.extract.analyse` reads it, and
:meth:`Store.apply_crawl` decides the status. Per host, one request at a time and at least
``delay`` seconds between two, across every process sharing the database (the store leases
hosts as it leases jobs). Transient failures (timeouts, refused
connections, 5xx, 429) retry with exponential back-off, honouring ``Retry-After``, and end
in ``error`` after ``max_attempts``. Verified linkbacks are checked again on a schedule
(a day, a week, then monthly); one that disappears becomes ``gone``.

>>> crawler = Crawler("linkback.db", threads=2, delay=2.0)   # doctest: +SKIP
>>> crawler.run_once()                                        # doctest: +SKIP
{'processed': 3, 'verified': 2, 'unverified': 1, ...}
"""

from __future__ import annotations

import collections
import datetime as dt
import email.utils
import logging
import os
import random
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import click

from . import dom, extract
from .authors import representative_card
from .errors import FetchError, HostBusy, LinkbackError, UnsafeURLError
from .fetch import DEFAULT_DEADLINE, DEFAULT_MAX_BYTES, Resolver, fetch, make_session
from .store import Store

logger = logging.getLogger(__name__)

#: Seconds from one check of a linkback to the next: a day, a week, then every 30 days.
RECHECK_SCHEDULE: tuple[float, ...] = (86_400.0, 7 * 86_400.0, 30 * 86_400.0)
#: Checks of a page that does not link to us (or is gone) before it is no longer fetched.
MAX_NEGATIVE_CHECKS = 3
#: Tries of one fetch that fails for passing reasons before the linkback is ``error``.
DEFAULT_MAX_ATTEMPTS = 5
#: First retry after this many seconds; each further one waits twice as long.
DEFAULT_RETRY_BASE = 60.0
#: Longest wait between two tries, and the most a ``Retry-After`` is believed.
MAX_RETRY_WAIT = 86_400.0
#: Seconds a claimed job stays ours before another worker may take it.
DEFAULT_LEASE = 300.0
#: Seconds an idle crawler thread sleeps before looking for due jobs again.
POLL_INTERVAL = 5.0
#: Jobs claimed at once per process.
BATCH = 20

_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})


class Crawler:
    """Verify pending linkbacks in background threads, or all due ones with :meth:`run_once`.

    :param database: the SQLite file.
    :param threads: worker threads.
    :param delay: minimum seconds between two requests to one host (0 in tests).
    :param allow_private_networks: fetch loopback and private addresses (tests, intranets).
    :param resolver: ``resolver(host, port)`` for :func:`~linkback.fetch.fetch` (tests).
    """

    def __init__(
        self,
        database: str,
        *,
        threads: int = 2,
        delay: float = 2.0,
        allow_private_networks: bool = False,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        retry_base: float = DEFAULT_RETRY_BASE,
        schedule: Sequence[float] = RECHECK_SCHEDULE,
        deadline: float = DEFAULT_DEADLINE,
        max_bytes: int = DEFAULT_MAX_BYTES,
        lease: float = DEFAULT_LEASE,
        fetch_authors: bool = True,
        resolver: Resolver | None = None,
    ) -> None:
        self.database = os.fspath(database)
        self.threads = max(1, int(threads))
        self.delay = max(0.0, float(delay))
        self.allow_private_networks = allow_private_networks
        self.max_attempts = max(1, int(max_attempts))
        self.retry_base = max(0.0, float(retry_base))
        self.schedule = tuple(schedule) or RECHECK_SCHEDULE
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.lease = max(lease, BATCH * self.delay * 2)
        self.fetch_authors = fetch_authors
        self.resolver = resolver
        self.owner = "%s:%d:%s" % (socket.gethostname()[:40], os.getpid(), secrets.token_hex(4))
        self._store: Store | None = None
        self._store_lock = threading.Lock()
        self._local = threading.local()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._queue: collections.deque[dict[str, Any]] = collections.deque()
        self._queue_lock = threading.Lock()
        self._authors: dict[str, Any] = {}

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        with self._store_lock:
            if self._store is None:
                self._store = Store(self.database)
            return self._store

    def start(self) -> None:
        """Start the worker threads (daemons). They poll for due jobs until :meth:`stop`."""
        if any(t.is_alive() for t in self._threads):
            return
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._run, name="linkback-crawler-%d" % i, daemon=True)
            for i in range(self.threads)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the threads to stop, wait up to ``timeout`` seconds, give back unstarted jobs."""
        self._stop.set()
        self._wake.set()
        end = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]
        self._release_queue()
        if not self._threads and self._store is not None:
            self._store.close()
            self._store = None

    def wake(self) -> None:
        """Look for due jobs now rather than at the next poll (new linkbacks, tests)."""
        self._wake.set()

    def _release_queue(self) -> None:
        with self._queue_lock:
            jobs, self._queue = list(self._queue), collections.deque()
        for job in jobs:
            try:
                self.store.release_job(job["linkback_id"], self.owner)
                self.store.release_host(job["host"], self.owner)
            except LinkbackError:
                logger.exception("linkback crawler: could not release a job")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._next_job()
                if job is None:
                    pause = self._idle_wait()
                    self._wake.wait(POLL_INTERVAL if pause is None else pause)
                    self._wake.clear()
                    continue
                self._process(job, collections.Counter())
            except Exception:  # keep the thread alive whatever one page does
                logger.exception("linkback crawler failed")
                self._stop.wait(POLL_INTERVAL)

    # --- the queue ----------------------------------------------------------------------------

    def _refill(self) -> None:
        with self._queue_lock:
            if self._queue:
                return
            claimed = self.store.claim_jobs(self.owner, limit=BATCH, lease=self.lease, per_host=True)
            self._queue.extend(claimed)

    def _next_job(self) -> dict[str, Any] | None:
        """A claimed job, its host leased to us: one job per host, so each may be fetched now."""
        self._refill()
        with self._queue_lock:
            return self._queue.popleft() if self._queue else None

    def _idle_wait(self) -> float | None:
        """Seconds to wait when nothing could be claimed: ``None`` if nothing is due, else a
        short pause, since due jobs are only waiting for their host (busy or in its delay)."""
        if self.store.count_due_jobs() == 0:
            return None
        return min(POLL_INTERVAL, max(self.delay / 2, 0.01))

    # --- one run over everything due ----------------------------------------------------------

    def run_once(self, *, progress: Callable[[int], None] | None = None, max_rounds: int = 1000) -> dict[str, int]:
        """Process every job due now (with ``threads`` workers) and return counts by outcome.

        Jobs that a failure makes due again at once (``retry_base=0``) are retried in the
        same run, up to ``max_attempts``.
        """
        summary: collections.Counter[str] = collections.Counter()
        lock = threading.Lock()
        self._stop.clear()

        def work() -> None:
            local: collections.Counter[str] = collections.Counter()
            while not self._stop.is_set():
                job = self._next_job()
                if job is None:
                    # Due jobs whose host is busy (here or in another process) or still
                    # inside its delay are claimable shortly; nothing due ends the run.
                    pause = self._idle_wait()
                    if pause is None:
                        break
                    self._stop.wait(pause)
                    continue
                try:
                    self._process(job, local)
                except Exception:
                    logger.exception("linkback crawler failed on %s", job.get("url"))
                    local["failed"] += 1
                if progress is not None:
                    progress(1)
            with lock:
                summary.update(local)

        for _ in range(max_rounds):
            if self.store.count_due_jobs() == 0:
                break
            workers = [threading.Thread(target=work, daemon=True) for _ in range(self.threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            if self._stop.is_set():
                break
        self._release_queue()
        result = {"processed": 0, "verified": 0, "held": 0, "unverified": 0, "gone": 0,
                  "error": 0, "retry": 0, "merged": 0, "deferred": 0}
        result.update(summary)
        return result

    # --- one job ------------------------------------------------------------------------------

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = make_session()
        return session

    def _fetch(self, url: str, visit: _Visit | None = None) -> Any:
        return fetch(
            url, session=self._session(), allow_private_networks=self.allow_private_networks,
            max_bytes=self.max_bytes, deadline=self.deadline, resolver=self.resolver,
            before_redirect=visit.before_redirect if visit is not None else None,
        )

    def _process(self, job: dict[str, Any], summary: collections.Counter[str]) -> None:
        visit = _Visit(self, job["host"])
        try:
            self._crawl(job, summary, visit)
        finally:
            summary["processed"] += 1
            # The delay counts from the end of the last request, whoever fetches next.
            for host in visit.hosts:
                try:
                    self.store.release_host(host, self.owner, next_at=time.time() + self.delay)
                except LinkbackError:
                    logger.exception("linkback crawler: could not free host %s", host)

    def _crawl(self, job: dict[str, Any], summary: collections.Counter[str], visit: _Visit | None = None) -> None:
        url = job["url"]
        stamp = _stamp()
        try:
            page = self._fetch(url, visit)
        except HostBusy as e:
            # Not the page's fault: it is tried again once that host is free, no attempt spent.
            logger.info("linkback: %s deferred: %s", url, e)
            self.store.release_job(job["linkback_id"], self.owner, due_at=time.time() + max(self.delay, 1.0))
            summary["deferred"] += 1
            return
        except UnsafeURLError as e:
            logger.info("linkback: refused %s: %s", url, e)
            self._finish(job, {"verified": False}, {"url": url, "outcome": "refused", "detail": str(e),
                                                     "fetched_at": stamp}, summary)
            return
        except FetchError as e:
            permanent = "redirects" in str(e)
            if permanent:
                self._finish(job, {"verified": False}, {"url": url, "outcome": "failed", "detail": str(e),
                                                         "fetched_at": stamp}, summary)
            else:
                self._retry(job, str(e), None, {"url": url, "outcome": "retry", "detail": str(e),
                                                "fetched_at": stamp}, summary)
            return
        record = {"url": url, "http_status": page.status, "fetched_at": stamp}
        if page.status in _TRANSIENT_STATUS:
            record.update(outcome="retry", detail="HTTP %d" % page.status)
            self._retry(job, "HTTP %d" % page.status, _retry_after(page.headers.get("Retry-After")), record, summary)
            return
        if page.status in (404, 410):
            record.update(outcome="gone", detail="HTTP %d" % page.status)
            self._finish(job, {"verified": False, "gone": True, "final_url": page.final_url}, record, summary)
            return
        if page.status >= 400 or not page.is_html:
            detail = "HTTP %d" % page.status if page.status >= 400 else "not HTML: %s" % page.content_type[:80]
            record.update(outcome="not-linking", detail=detail)
            self._finish(job, {"verified": False, "final_url": page.final_url}, record, summary)
            return
        analysis = extract.analyse(
            page.text, page.final_url, job["target"], include_media=job["kind"] == "webmention",
            status=page.status,
        )
        if analysis.verified and self.fetch_authors:
            self.complete_author(analysis, page.final_url, visit=visit)
        result = analysis.as_dict()
        result["final_url"] = page.final_url
        result["content_hash"] = analysis.content_hash
        result["fetch_url"] = analysis.permalink or url
        if analysis.verified:
            record.update(outcome="verified", detail=(analysis.permalink if analysis.listing else None))
        else:
            record.update(outcome="gone" if analysis.gone else "not-linking",
                          detail="meta Status 410" if analysis.gone else "no link to %s" % job["target"])
        self._finish(job, result, record, summary)

    def complete_author(self, analysis: extract.Analysis, page_url: str, *, visit: _Visit | None = None) -> None:
        """Read the author's own page for a name or photo the entry did not give (authorship).

        :param visit: the job's hosts, when the page is read for one. The author's page is then
            read as politely as a job's: on a host the job has already asked only after the
            per-host delay, on another host of the site only when that host can be leased;
            when it cannot, the card is left to a later check of the linkback.
        """
        author_url = analysis.author_url
        if not author_url or (analysis.author_name and analysis.author_photo):
            return
        if not dom.same_site(author_url, page_url) or dom.link_key(author_url) == dom.link_key(page_url):
            return
        if author_url not in self._authors:
            if visit is not None:
                author_host = Store.crawl_host(author_url)
                if author_host in visit.hosts:
                    if self._stop.wait(self.delay):  # stopping: no new request
                        return
                elif not visit.lease(author_host):
                    return
            card = None
            try:
                page = self._fetch(author_url, visit)
                if page.status == 200 and page.is_html:
                    tree = extract.parse_html(page.text)
                    card = representative_card(tree, page.final_url) if tree is not None else None
            except HostBusy as e:
                logger.info("linkback: author page %s left for later: %s", author_url, e)
                return
            except FetchError as e:
                logger.info("linkback: author page %s: %s", author_url, e)
            if len(self._authors) > 256:
                self._authors.clear()
            self._authors[author_url] = card
        card = self._authors[author_url]
        if card is not None:
            analysis.author_name = analysis.author_name or card.name
            analysis.author_photo = analysis.author_photo or card.photo

    def _next_check(self, job: dict[str, Any], status: str) -> float | None:
        checks = int(job.get("checks") or 0)
        if status == "blocked":
            return None
        if status in ("unverified", "gone") and checks + 1 >= MAX_NEGATIVE_CHECKS:
            return None
        wait = self.schedule[min(checks, len(self.schedule) - 1)]
        return time.time() + wait * random.uniform(0.95, 1.05)

    def _finish(self, job: dict[str, Any], result: dict[str, Any], record: dict[str, Any],
                summary: collections.Counter[str]) -> None:
        verified = bool(result.get("verified")) and not result.get("gone")
        # The status decides the schedule; the store decides the status. Assume the
        # likely one for scheduling, the store keeps blocked/hidden linkbacks as they are.
        guess = "verified" if verified else ("gone" if job["status"] in ("verified", "held", "gone") else "unverified")
        outcome = self.store.apply_crawl(
            job["linkback_id"], self.owner, result, next_check_at=self._next_check(job, guess), fetch=record,
        )
        if outcome is None:
            logger.info("linkback: job %s was taken over; result dropped", job["linkback_id"])
            return
        summary[outcome["status"]] += 1
        if outcome["merged_into"] is not None:
            summary["merged"] += 1
        logger.info("linkback: %s -> %s (%s)", job["url"], outcome["status"], record.get("outcome"))

    def _retry(self, job: dict[str, Any], error: str, retry_after: float | None, record: dict[str, Any],
               summary: collections.Counter[str]) -> None:
        attempts = int(job.get("attempts") or 0) + 1
        give_up = attempts >= self.max_attempts
        if give_up:
            checks = int(job.get("checks") or 0)
            due = time.time() + self.schedule[min(checks, len(self.schedule) - 1)]
        else:
            wait = min(MAX_RETRY_WAIT, self.retry_base * 2 ** (attempts - 1))
            wait *= random.uniform(0.9, 1.1)  # spread retries of many jobs on one host
            if retry_after is not None:
                wait = max(wait, retry_after)
            due = time.time() + wait
        status = self.store.retry_job(job["linkback_id"], self.owner, error=error, due_at=due,
                                      give_up=give_up, fetch=record)
        summary["error" if give_up and status == "error" else "retry"] += 1
        logger.info("linkback: %s failed (%s), attempt %d of %d", job["url"], error, attempts, self.max_attempts)


class _Visit:
    """The hosts one job sends requests to, kept under the same politeness as its page's.

    The job's own host is leased with the job. A redirect to another host, or the author's
    page there, is followed only when that host can be leased too (else :class:`HostBusy`);
    a redirect to a host the job already holds is part of the same visit. Every host is
    freed with the per-host delay ahead when the job ends (:meth:`Crawler._process`).
    """

    def __init__(self, crawler: Crawler, host: str) -> None:
        self.crawler = crawler
        self.hosts = [host]

    def lease(self, host: str) -> bool:
        if host in self.hosts:
            return True
        if not self.crawler.store.lease_host(host, self.crawler.owner, lease=self.crawler.lease):
            return False
        self.hosts.append(host)
        return True

    def before_redirect(self, url: str) -> None:
        host = Store.crawl_host(url)
        if not self.lease(host):
            raise HostBusy("%s is busy or was crawled a moment ago" % host)


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_WAIT)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, min((when - dt.datetime.now(dt.UTC)).total_seconds(), MAX_RETRY_WAIT))


# --- command line -------------------------------------------------------------------------------


@click.command("crawl")
@click.option("--once", is_flag=True, help="Process every job due now, then exit.")
@click.option("--allow-private-networks", is_flag=True,
              help="Also fetch loopback and private addresses (intranets, tests).")
@click.option("--threads", default=2, show_default=True, type=click.IntRange(1, 32), help="Worker threads.")
@click.option("--delay", default=2.0, show_default=True, type=click.FloatRange(0, 3600),
              help="Minimum seconds between two requests to one host.")
@click.pass_context
def crawl(ctx: click.Context, once: bool, allow_private_networks: bool, threads: int, delay: float) -> None:
    """Verify referring pages and extract their title, blurb, author and permalink.

    Example: linkback --db site.db crawl --once
    """
    from .cli import open_store  # linkback.cli imports this module

    store = open_store(ctx)
    store.close()
    crawler = Crawler(ctx.obj["db"], threads=threads, delay=delay,
                      allow_private_networks=allow_private_networks)
    if once:
        due = crawler.store.count_due_jobs()
        try:
            with click.progressbar(length=due, label="Crawling", file=sys.stderr) as bar:
                summary = crawler.run_once(progress=bar.update)
        except LinkbackError as e:
            raise click.ClickException(str(e)) from None
        finally:
            crawler.stop()
        for key, count in summary.items():
            click.echo("%-11s %d" % (key.capitalize() + ":", count))
        return
    click.echo("Crawling %s with %d threads; Ctrl-C stops." % (ctx.obj["db"], threads), err=True)
    crawler.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        click.echo("Stopping…", err=True)
    finally:
        crawler.stop()


commands = [crawl]
