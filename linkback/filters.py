"""Which requests count: the rules that turn a raw request into a (source, target) pair or a
reason to skip it.

The middleware only copies a few ``environ`` values onto a queue; these rules run in the
writer thread (and in ``linkback import-log``), so their cost never lands on a request.
Every input here is hostile: the ``Referer``, ``Host`` and ``User-Agent`` headers are
whatever the client chose to send.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import quote

from . import urls
from .bots import is_bot
from .config import Options

logger = logging.getLogger(__name__)

__all__ = ["SKIP_REASONS", "Accepted", "HitFilter", "Skipped", "is_bot", "request_path"]

#: Reasons a request is not counted, as ``stats()`` and ``import-log`` report them.
SKIP_REASONS = (
    "no-referrer",       # no Referer, or an empty one
    "not-http",          # javascript:, data:, android-app:, ... (RFC 7231 allows any URI)
    "invalid-referrer",  # http(s) in name only: no host, bad host, credentials, too long
    "private-referrer",  # loopback, private network, single-label or .local host
    "invalid-host",      # a Host header that is not a host name
    "unknown-site",      # a well-formed Host that is not one of the configured sites
    "internal",          # navigation inside our own registrable domain or internal_domains
    "bot",               # crawler, monitor, library, or no User-Agent at all
    "blacklisted",       # blacklist or blacklist_files
)

#: Entries kept in each cache; the keys are client-chosen, so the caches are bounded.
CACHE_SIZE = 50_000


@dataclass(frozen=True, slots=True)
class Accepted:
    """A hit that counts: normalised referring URL, normalised URL of our page, our site."""

    source: str
    target: str
    site: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A hit that does not count, and why (one of :data:`SKIP_REASONS`)."""

    reason: str


_SKIPPED = {reason: Skipped(reason) for reason in SKIP_REASONS}


def request_path(script_name: str, path_info: str) -> str:
    """The request path as a URL path, from WSGI's latin-1 decoded ``environ`` strings.

    PEP 3333 hands the raw path bytes over as latin-1 characters; encoding them back gives
    the bytes the client sent, which are then percent-encoded where unsafe.
    """
    path = script_name + path_info
    if _CLEAN_PATH.fullmatch(path):
        return path  # nearly every path: nothing to quote
    if path.isascii():
        return quote(path, safe=_PATH_SAFE) or "/"
    raw = path.encode("latin-1", "replace")
    return quote(raw, safe=_PATH_SAFE) or "/"


_PATH_SAFE = urls.PATH_SAFE
_CLEAN_PATH = re.compile(r"/[A-Za-z0-9/%:@!$&()*+,;=._~-]*")


class HitFilter:
    """The counting rules for one configuration, with caches for the repeated parts.

    :param options: validated options; ``sites``, ``internal_domains``, ``blacklist``,
        ``blacklist_files``, ``keep_params``, ``drop_params`` and
        ``allow_private_networks`` apply here.

    >>> rules = HitFilter(Options.from_kwargs(sites=["example.com"]))  # doctest: +SKIP
    >>> rules.check("https://blog.example.org/post", "example.com", "/a", "", "https", ua)
    Accepted(source='https://blog.example.org/post', target='https://example.com/a', ...)
    """

    def __init__(self, options: Options) -> None:
        self.options = options
        #: The sites that count: ``options.sites`` and those added in the manager.
        self.sites: tuple[str, ...] = options.sites
        self.patterns = urls.PatternSet(options.blacklist, options.blacklist_hosts)
        self._referrers: dict[str, str | Skipped] = {}
        self._hosts: dict[str, tuple[str, str, str] | Skipped] = {}
        self._internal_cache: dict[tuple[str, str], bool] = {}
        self._targets: dict[tuple[str, str, str, str], str | None] = {}

    def set_extra_patterns(self, patterns: list[str]) -> None:
        """Replace the blacklist patterns kept in the database (added in the admin)."""
        combined = urls.PatternSet(self.options.blacklist, self.options.blacklist_hosts)
        for pattern in patterns:
            try:
                combined.add(pattern)
            except ValueError:
                logger.warning("ignoring invalid blacklist pattern %r", pattern)
        self.patterns = combined
        self._referrers = {}

    def set_sites(self, hosts: list[str]) -> None:
        """Count these sites (kept in the database, added in the manager) beside ``options.sites``."""
        sites = tuple(dict.fromkeys([*self.options.sites, *hosts]))
        if sites != self.sites:
            self.sites = sites
            self._hosts = {}

    # --- the Host header ----------------------------------------------------------------------

    def _host(self, host_header: str) -> tuple[str, str, str] | Skipped:
        """(site, host, host with a non-default port) for a ``Host`` header, or why not."""
        cached = self._hosts.get(host_header)
        if cached is not None:
            return cached
        result: tuple[str, str, str] | Skipped
        text = urls.wsgi_text(host_header.strip())
        host = urls.normalize_host(text)
        if host is None:
            result = _SKIPPED["invalid-host"]
        else:
            site = self._site_of(host)
            if site is None:
                result = _SKIPPED["unknown-site"]
            else:
                port = ""
                if not text.endswith("]") and text.count(":") == 1 or "]:" in text:
                    port = text.rsplit(":", 1)[1]
                result = (site, host, "%s:%s" % (host, port) if port else host)
        if len(self._hosts) >= CACHE_SIZE:
            self._hosts = {}
        self._hosts[host_header] = result
        return result

    def _site_of(self, host: str) -> str | None:
        sites = self.sites
        if not sites:
            return host
        for site in sites:
            if host == site or host.endswith("." + site):
                return site
        return None

    def site_for(self, host_header: str) -> str | None:
        """The configured site a ``Host`` header belongs to, or ``None`` if it is not ours.

        The header is chosen by the client. With ``sites`` configured, only those hosts and
        their subdomains count. Without, every well-formed host counts as its own site, so a
        client sending ``Host: anything.example`` creates linkbacks to pages of that name:
        configure ``sites`` on any server reachable by a name you do not control.
        """
        result = self._host(host_header)
        return None if isinstance(result, Skipped) else result[0]

    # --- the Referer --------------------------------------------------------------------------

    def referrer(self, referer: str) -> str | None:
        """The normalised referrer URL, or ``None`` when it does not count."""
        result = self._referrer(referer)
        return None if isinstance(result, Skipped) else result

    def _referrer(self, referer: str) -> str | Skipped:
        cached = self._referrers.get(referer)
        if cached is not None:
            return cached
        result: str | Skipped
        source = urls.normalize_url(
            urls.wsgi_text(referer),
            drop_params=self.options.drop_params,
            keep_params=self.options.keep_params,
            fold_aliases=True,
        )
        if source is None:
            result = _SKIPPED["invalid-referrer"]
        else:
            host = urls.host_of(source)
            if not self.options.allow_private_networks and urls.is_private_host(host):
                # No one outside can follow or verify such a link; it is a developer's
                # machine, an intranet or a forged header.
                result = _SKIPPED["private-referrer"]
            elif self.patterns and self.patterns.match(source, host):
                result = _SKIPPED["blacklisted"]
            else:
                result = source
        if len(self._referrers) >= CACHE_SIZE:
            self._referrers = {}
        self._referrers[referer] = result
        return result

    # --- all the rules ------------------------------------------------------------------------

    def check(
        self,
        referer: str | None,
        host_header: str,
        path: str,
        query: str,
        scheme: str,
        user_agent: str,
    ) -> Accepted | Skipped:
        """Apply every rule to one request.

        :param referer: the ``Referer`` header as WSGI gives it (latin-1 decoded).
        :param host_header: the ``Host`` header (or ``SERVER_NAME``).
        :param path: the request path, already URL-quoted (:func:`request_path`).
        :param query: the raw query string.
        :param scheme: ``wsgi.url_scheme``.
        :param user_agent: the ``User-Agent`` header.
        """
        if not referer:
            return _SKIPPED["no-referrer"]
        lowered = referer[:8].lower()
        if not (lowered.startswith("http://") or lowered.startswith("https://")):
            return _SKIPPED["not-http"]
        own = self._host(host_header)
        if isinstance(own, Skipped):
            return own
        site, host, netloc = own
        if is_bot(user_agent):
            return _SKIPPED["bot"]
        source = self._referrer(referer)
        if isinstance(source, Skipped):
            return source
        if self._internal(urls.host_of(source), host):
            return _SKIPPED["internal"]
        target = self._target(scheme, netloc, path, query)
        if target is None:
            return _SKIPPED["invalid-host"]
        return Accepted(source, target, site)

    def _target(self, scheme: str, netloc: str, path: str, query: str) -> str | None:
        """The normalised URL of our page; a site has few pages, so results are cached."""
        key = (scheme, netloc, path, query)
        target = self._targets.get(key, "")
        if target != "":
            return target
        if query and not query.isascii():
            query = quote(query.encode("latin-1", "replace"), safe=urls.QUERY_SAFE)
        target = urls.normalize_url(
            "%s://%s%s%s" % ("https" if scheme == "https" else "http", netloc, path,
                             "?" + query if query else ""),
            drop_params=self.options.drop_params,
            keep_params=self.options.keep_params,
        )
        if len(self._targets) >= CACHE_SIZE:
            self._targets = {}
        self._targets[key] = target
        return target

    def _internal(self, source_host: str, own_host: str) -> bool:
        """Same host, same registrable domain (``blog.example.com`` → ``example.com``), or one
        of ``internal_domains``."""
        if source_host == own_host:
            return True
        key = (source_host, own_host)
        cached = self._internal_cache.get(key)
        if cached is None:
            cached = (
                urls.registrable_domain(source_host) == urls.registrable_domain(own_host)
                or urls.host_in(source_host, self.options.internal_domains)
            )
            if len(self._internal_cache) >= CACHE_SIZE:
                self._internal_cache = {}
            self._internal_cache[key] = cached
        return cached
