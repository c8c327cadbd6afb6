"""Rate limits for the notification receivers: token buckets kept in memory.

Three buckets guard every Webmention, Pingback and Trackback request:

* per client address, so one host cannot flood the receivers;
* per source domain (the registrable domain of the page we will fetch to verify), so
  nobody can make this server fetch a third party's pages over and over — the 2014
  "pingback DDoS" sent millions of pings naming a victim's pages as their source;
* a global bucket, which bounds the total verification work a burst can queue.

The buckets live in the process: they are checked before the database is touched, so a
flood costs a dictionary look-up per request. With several worker processes each has its
own buckets; the limits are per process.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

#: Requests a single client address may send: (burst, refilled over seconds).
CLIENT_LIMIT = (20, 60.0)
#: Notifications naming pages of one source domain, i.e. verification fetches to one site.
SOURCE_LIMIT = (30, 3600.0)
#: Notifications accepted in all, per process.
GLOBAL_LIMIT = (600, 3600.0)
#: Keys remembered per bucket set; the least recently used are forgotten past this.
MAX_KEYS = 10_000


class RateLimiter:
    """A set of token buckets, one per key, each holding up to ``burst`` tokens.

    A bucket refills at ``burst / period`` tokens a second. Memory is bounded: past
    ``max_keys`` the least recently seen key is forgotten (a forgotten key starts full,
    which only ever errs towards letting a request through).

    :param burst: tokens a full bucket holds; 0 refuses everything.
    :param period: seconds to refill an empty bucket.
    :param clock: a monotonic clock, passed in so tests need not wait.

    >>> limiter = RateLimiter(2, 60.0)
    >>> limiter.allow("a"), limiter.allow("a"), limiter.allow("a")
    (True, True, False)
    """

    def __init__(
        self,
        burst: int,
        period: float,
        *,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.period = period
        self.rate = burst / period if period > 0 else float("inf")
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _level(self, key: str, now: float) -> float:
        entry = self._buckets.get(key)
        if entry is None:
            return float(self.burst)
        tokens, stamp = entry
        return min(float(self.burst), tokens + (now - stamp) * self.rate)

    def allow(self, key: str, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens from ``key``'s bucket; ``False`` (nothing taken) when short."""
        with self._lock:
            now = self.clock()
            tokens = self._level(key, now)
            if tokens < cost:
                return False
            self._buckets[key] = (tokens - cost, now)
            self._buckets.move_to_end(key)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return True

    def refund(self, key: str, cost: float = 1.0) -> None:
        """Give back tokens taken for a request that a later bucket refused."""
        with self._lock:
            entry = self._buckets.get(key)
            if entry is not None:
                self._buckets[key] = (min(float(self.burst), entry[0] + cost), entry[1])

    def retry_after(self, key: str, cost: float = 1.0) -> int:
        """Whole seconds until ``key`` has ``cost`` tokens again (at least 1)."""
        with self._lock:
            missing = cost - self._level(key, self.clock())
        if missing <= 0:
            return 1
        if self.rate == 0:
            return int(self.period) or 1
        return max(1, int(missing / self.rate + 0.999))


@dataclass(frozen=True)
class Limits:
    """The receivers' rate limits, each ``(burst, period in seconds)``."""

    client: tuple[int, float] = CLIENT_LIMIT
    source: tuple[int, float] = SOURCE_LIMIT
    total: tuple[int, float] = GLOBAL_LIMIT

    @classmethod
    def from_option(cls, value: Any) -> Limits:
        """Build from the ``protocol_limits`` option: a mapping of ``client``, ``source``
        and ``total`` to ``(burst, seconds)``; missing keys keep their defaults.

        >>> Limits.from_option({"client": (5, 60)}).client
        (5, 60.0)
        """
        if value is None:
            return cls()
        if isinstance(value, Limits):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError("protocol_limits: expected a mapping, got %r" % (value,))
        unknown = set(value) - {"client", "source", "total"}
        if unknown:
            raise ConfigError("protocol_limits: unknown keys: %s" % ", ".join(sorted(unknown)))
        fields: dict[str, tuple[int, float]] = {}
        for name, pair in value.items():
            try:
                burst, period = pair
                ok = (
                    isinstance(burst, int)
                    and not isinstance(burst, bool)
                    and burst >= 0
                    and isinstance(period, (int, float))
                    and not isinstance(period, bool)
                    and period > 0
                )
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ConfigError(
                    "protocol_limits: %s must be (burst, seconds), got %r" % (name, pair)
                )
            fields[name] = (burst, float(period))
        return cls(**fields)


class ReceiverLimits:
    """The three bucket sets of :class:`Limits`, checked together.

    :param limits: burst and period of each bucket set.
    :param clock: a monotonic clock (tests pass a fake one).
    """

    def __init__(
        self, limits: Limits | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        limits = limits or Limits()
        self.client = RateLimiter(*limits.client, clock=clock)
        self.source = RateLimiter(*limits.source, clock=clock)
        self.total = RateLimiter(*limits.total, clock=clock)

    def allow_client(self, address: str) -> bool:
        """Checked first, before the body is even read."""
        return self.client.allow(address or "-")

    def allow_notification(self, source_domain: str) -> bool:
        """Checked once the request is valid: the source domain's and the global bucket."""
        if not self.source.allow(source_domain):
            return False
        if not self.total.allow("*"):
            self.source.refund(source_domain)
            return False
        return True
