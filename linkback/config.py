"""Options of :class:`~linkback.LinkbackMiddleware`, validated once at construction."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import urls
from .errors import ConfigError

#: Where the middleware serves its own endpoints (JSON API, script, admin, protocols).
DEFAULT_PREFIX = "/.linkback/"
#: Hits waiting for the writer; past this, hits are dropped and counted, never blocking.
DEFAULT_QUEUE_SIZE = 20_000
#: The writer wakes when this many hits wait, or after ``flush_interval`` seconds.
DEFAULT_BATCH_SIZE = 1_000
#: Seconds between the writer's timed wake-ups.
DEFAULT_FLUSH_INTERVAL = 1.0
#: Crawler threads per process.
DEFAULT_CRAWL_THREADS = 2
#: Minimum seconds between two requests to one host.
DEFAULT_CRAWL_DELAY = 2.0


def _hosts(name: str, values: Any) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [values]
    result = []
    for value in values or ():
        if not isinstance(value, str):
            raise ConfigError("%s: expected host names, got %r" % (name, value))
        raw = value.strip()
        if "://" in raw:
            normalized = urls.normalize_url(raw)
            host = urls.host_of(normalized) if normalized else None
        else:
            host = urls.normalize_host(raw)
        if not host:
            raise ConfigError("%s: %r is not a host name" % (name, value))
        result.append(host)
    return tuple(dict.fromkeys(result))


def _strings(name: str, values: Any) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [values]
    values = tuple(values or ())
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError("%s: expected non-empty strings, got %r" % (name, value))
    return values


def _number(name: str, value: Any, low: float, high: float, kind: type = float) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError("%s: expected a number, got %r" % (name, value))
    if kind is int and value != int(value):
        raise ConfigError("%s: expected a whole number, got %r" % (name, value))
    if not low <= value <= high:
        raise ConfigError("%s: %r is out of range (%s to %s)" % (name, value, low, high))
    return kind(value)


@dataclass(frozen=True)
class Options:
    """Validated middleware options. Build with :meth:`from_kwargs`."""

    sites: tuple[str, ...] = ()
    internal_domains: tuple[str, ...] = ()
    blacklist: tuple[str, ...] = ()
    blacklist_files: tuple[str, ...] = ()
    blacklist_hosts: frozenset[str] = field(default_factory=frozenset)
    crawl: bool = True
    crawl_threads: int = DEFAULT_CRAWL_THREADS
    crawl_delay: float = DEFAULT_CRAWL_DELAY
    allow_private_networks: bool = False
    keep_params: tuple[str, ...] = ()
    drop_params: tuple[str, ...] = urls.TRACKING_PARAMS
    prefix: str = DEFAULT_PREFIX
    queue_size: int = DEFAULT_QUEUE_SIZE
    batch_size: int = DEFAULT_BATCH_SIZE
    flush_interval: float = DEFAULT_FLUSH_INTERVAL
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> Options:
        """Validate keyword options; raise :class:`ConfigError` naming the first bad one."""
        known = {f for f in cls.__dataclass_fields__ if f not in ("blacklist_hosts", "extra")}
        unknown = set(kwargs) - known - set(EXTRA_OPTIONS)
        if unknown:
            raise ConfigError(
                "unknown option%s: %s" % ("s" if len(unknown) > 1 else "", ", ".join(sorted(unknown)))
            )
        values: dict[str, Any] = {}
        values["sites"] = _hosts("sites", kwargs.get("sites"))
        values["internal_domains"] = _hosts("internal_domains", kwargs.get("internal_domains"))
        patterns = _strings("blacklist", kwargs.get("blacklist"))
        for pattern in patterns:
            try:
                urls.validate_pattern(pattern)
            except ValueError as e:
                raise ConfigError("blacklist: %s" % e) from None
        values["blacklist"] = patterns
        files = _strings("blacklist_files", kwargs.get("blacklist_files"))
        hosts: set[str] = set()
        for path in files:
            if not os.path.isfile(path):
                raise ConfigError("blacklist_files: no such file: %s" % path)
            try:
                hosts.update(urls.read_host_list(path))
            except OSError as e:
                raise ConfigError("blacklist_files: cannot read %s: %s" % (path, e)) from None
        values["blacklist_files"] = files
        values["blacklist_hosts"] = frozenset(hosts)
        for name in ("crawl", "allow_private_networks"):
            if name in kwargs:
                if not isinstance(kwargs[name], bool):
                    raise ConfigError("%s: expected True or False, got %r" % (name, kwargs[name]))
                values[name] = kwargs[name]
        if "crawl_threads" in kwargs:
            values["crawl_threads"] = _number("crawl_threads", kwargs["crawl_threads"], 1, 32, int)
        if "crawl_delay" in kwargs:
            values["crawl_delay"] = _number("crawl_delay", kwargs["crawl_delay"], 0, 3600)
        values["keep_params"] = tuple(p.lower() for p in _strings("keep_params", kwargs.get("keep_params")))
        if "drop_params" in kwargs:
            values["drop_params"] = tuple(p.lower() for p in _strings("drop_params", kwargs["drop_params"]))
        if "prefix" in kwargs:
            prefix = kwargs["prefix"]
            if not isinstance(prefix, str) or not prefix.startswith("/") or not prefix.endswith("/") or len(prefix) < 3:
                raise ConfigError("prefix: expected a path like '/.linkback/', got %r" % (prefix,))
            values["prefix"] = prefix
        if "queue_size" in kwargs:
            values["queue_size"] = _number("queue_size", kwargs["queue_size"], 1, 10_000_000, int)
        if "batch_size" in kwargs:
            values["batch_size"] = _number("batch_size", kwargs["batch_size"], 1, 1_000_000, int)
        if "flush_interval" in kwargs:
            values["flush_interval"] = _number("flush_interval", kwargs["flush_interval"], 0.01, 3600)
        values["extra"] = extra = {k: v for k, v in kwargs.items() if k in EXTRA_OPTIONS}
        # The other parts' options are checked now too, so a mistake fails at start-up rather
        # than on the first request that needs it.
        if extra.get("display") is not None:
            from .render import validate_options

            validate_options(extra["display"])
        if extra.get("protocol_limits") is not None:
            from .protocols.limits import Limits

            Limits.from_option(extra["protocol_limits"])
        for name in ("protocols", "admin"):
            if name in extra and not isinstance(extra[name], bool):
                raise ConfigError("%s: expected True or False, got %r" % (name, extra[name]))
        if extra.get("secret_key") is not None and not isinstance(extra["secret_key"], str | bytes):
            raise ConfigError("secret_key: expected a string, got %r" % (extra["secret_key"],))
        return cls(**values)

    def with_sites(self, sites: Iterable[str]) -> Options:
        from dataclasses import replace

        return replace(self, sites=_hosts("sites", list(sites)))


#: Options that later parts of linkback read from ``Options.extra`` (display, protocols, admin),
#: each validated where it is used.
EXTRA_OPTIONS: dict[str, str] = {
    "display": "default display options for render()",
    "protocols": "receive Webmention, Pingback and Trackback (default True)",
    "protocol_limits": "rate limits of the receivers: {'client'|'source'|'total': (burst, seconds)}",
    "admin": "serve the Linkback manager under the prefix (default True)",
    "secret_key": "key that signs admin sessions (default: one kept in the database)",
}
