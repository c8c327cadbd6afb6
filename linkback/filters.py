"""Which requests count: the rules that turn a raw request into a (source, target) pair or a
reason to skip it.

The middleware only copies a few ``environ`` values onto a queue; these rules run in the
writer thread (and in ``linkback import-log``), so their cost never lands on a request.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from urllib.parse import quote

from crawleruseragents import is_crawler

from . import urls
from .config import Options

logger = logging.getLogger(__name__)

#: Reasons a request is not counted, as ``import-log`` reports them.
SKIP_REASONS = (
    "no-referrer", "not-http", "invalid-referrer", "invalid-host", "unknown-site", "internal",
    "bot", "blacklisted", "not-counted",
)


@dataclass(frozen=True, slots=True)
class Accepted:
    source: str
    target: str
    site: str


@dataclass(frozen=True, slots=True)
class Skipped:
    reason: str


@functools.lru_cache(maxsize=8192)
def is_bot(user_agent: str) -> bool:
    """True for crawlers (crawler-user-agents patterns) and for clients that send no user agent."""
    user_agent = user_agent.strip()
    if not user_agent:
        return True
    return is_crawler(user_agent[:1024])


def request_path(script_name: str, path_info: str) -> str:
    """The request path as a URL path, from WSGI's latin-1 decoded ``environ`` strings."""
    raw = (script_name + path_info).encode("latin-1", "replace")
    return quote(raw, safe="/%:@!$&'()*+,;=-._~") or "/"


class HitFilter:
    """The counting rules for one configuration, with caches for the repeated parts."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.patterns = urls.PatternSet(options.blacklist, options.blacklist_hosts)
        self._referrers: dict[str, str | None] = {}
        self._sites: dict[str, str | None] = {}

    def set_extra_patterns(self, patterns: list[str]) -> None:
        """Replace the blacklist patterns kept in the database (added in the admin)."""
        combined = urls.PatternSet(self.options.blacklist, self.options.blacklist_hosts)
        for pattern in patterns:
            try:
                combined.add(pattern)
            except ValueError:
                logger.warning("ignoring invalid blacklist pattern %r", pattern)
        self.patterns = combined
        self._referrers.clear()

    def site_for(self, host_header: str) -> str | None:
        """The configured site a ``Host`` header belongs to, or ``None`` if it is not ours.

        The header is chosen by the client. With ``sites`` configured only those hosts (and
        their subdomains) count; without, any well-formed host counts, as documented.
        """
        cached = self._sites.get(host_header, "")
        if cached != "":
            return cached
        host = urls.normalize_host(host_header)
        site: str | None
        if host is None:
            site = None
        elif not self.options.sites:
            site = host
        else:
            site = next(
                (s for s in self.options.sites if host == s or host.endswith("." + s)), None
            )
        if len(self._sites) < 1024:
            self._sites[host_header] = site
        return site

    def referrer(self, referer: str) -> str | None:
        """The normalised referrer URL, or ``None`` when it is not an http(s) URL or blacklisted."""
        if referer in self._referrers:
            return self._referrers[referer]
        source = urls.normalize_url(
            referer,
            drop_params=self.options.drop_params,
            keep_params=self.options.keep_params,
            fold_aliases=True,
        )
        if source is not None and self.patterns and self.patterns.match(source):
            source = None
        if len(self._referrers) > 50_000:
            self._referrers.clear()
        self._referrers[referer] = source
        return source

    def check(
        self,
        referer: str | None,
        host_header: str,
        path: str,
        query: str,
        scheme: str,
        user_agent: str,
    ) -> Accepted | Skipped:
        """Apply every rule to one request; ``path`` is already URL-quoted."""
        if not referer:
            return Skipped("no-referrer")
        lowered = referer[:8].lower()
        if not (lowered.startswith("http://") or lowered.startswith("https://")):
            return Skipped("not-http")
        site = self.site_for(host_header)
        if site is None:
            return Skipped("invalid-host" if urls.normalize_host(host_header) is None else "unknown-site")
        if is_bot(user_agent):
            return Skipped("bot")
        source = self.referrer(referer)
        if source is None:
            if urls.normalize_url(referer, fold_aliases=True) is None:
                return Skipped("invalid-referrer")
            return Skipped("blacklisted")
        own_host = urls.normalize_host(host_header) or site
        source_host = urls.host_of(source)
        if self._internal(source_host, own_host):
            return Skipped("internal")
        target = urls.normalize_url(
            "%s://%s%s%s" % (scheme if scheme in ("http", "https") else "http", host_header, path,
                             "?" + query if query else ""),
            drop_params=self.options.drop_params,
            keep_params=self.options.keep_params,
        )
        if target is None:
            return Skipped("invalid-host")
        return Accepted(source, target, site)

    def _internal(self, source_host: str, own_host: str) -> bool:
        if source_host == own_host:
            return True
        if urls.registrable_domain(source_host) == urls.registrable_domain(own_host):
            return True
        return urls.host_in(source_host, self.options.internal_domains)
