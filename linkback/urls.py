"""URL handling: normalisation, registrable domains, host aliases and ``*`` patterns.

Every URL that reaches the store goes through :func:`normalize_url` first, so that
``https://Example.COM:443/a#top`` and ``https://example.com/a?utm_source=x`` are one page.
Nothing here does I/O; the functions are pure and safe on hostile input (they return
``None`` rather than raise).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import quote, unquote, unquote_plus, urlsplit, urlunsplit

from publicsuffixlist import PublicSuffixList

#: Longest URL we accept. Browsers send Referers far shorter; anything longer is noise or abuse.
MAX_URL_LENGTH = 8192

#: Query parameters that only say how a visitor arrived, never which page it is.
#: ``*`` is a wildcard. Matched case-insensitively against parameter names.
TRACKING_PARAMS: tuple[str, ...] = (
    "utm_*", "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid",
    "mc_eid", "mc_cid", "_ga", "_gl", "igshid", "twclid", "ttclid", "li_fat_id", "mkt_tok",
    "_hsenc", "_hsmi", "hsa_*", "oly_anon_id", "oly_enc_id", "vero_id", "wickedid", "rb_clickid",
    "s_cid", "ref_src", "ref_url", "__s", "ncid", "sr_share", "spm", "scm", "cmpid",
)

#: Hosts that are one site under several names, folded for referrers as referrer analytics do.
HOST_ALIASES: dict[str, str] = {
    "facebook.com": "www.facebook.com",
    "m.facebook.com": "www.facebook.com",
    "l.facebook.com": "www.facebook.com",
    "lm.facebook.com": "www.facebook.com",
    "mbasic.facebook.com": "www.facebook.com",
    "touch.facebook.com": "www.facebook.com",
    "reddit.com": "www.reddit.com",
    "old.reddit.com": "www.reddit.com",
    "new.reddit.com": "www.reddit.com",
    "np.reddit.com": "www.reddit.com",
    "m.reddit.com": "www.reddit.com",
    "i.reddit.com": "www.reddit.com",
    "amp.reddit.com": "www.reddit.com",
    "out.reddit.com": "www.reddit.com",
    "mobile.twitter.com": "twitter.com",
    "m.twitter.com": "twitter.com",
    "www.twitter.com": "twitter.com",
    "mobile.x.com": "x.com",
    "www.x.com": "x.com",
    "m.youtube.com": "www.youtube.com",
    "youtube.com": "www.youtube.com",
    "m.imdb.com": "www.imdb.com",
    "m.vk.com": "vk.com",
    "m.ycombinator.com": "news.ycombinator.com",
    "mobile.slashdot.org": "slashdot.org",
    "m.slashdot.org": "slashdot.org",
    "amp.theguardian.com": "www.theguardian.com",
    "lnkd.in": "www.linkedin.com",
    "linkedin.com": "www.linkedin.com",
    "m.linkedin.com": "www.linkedin.com",
}

_psl = PublicSuffixList()

#: Characters left as they are in paths and queries; everything else is percent-encoded.
#: RFC 3986 would allow ``'`` too; encoding it means a stored URL can never end an HTML
#: attribute, even where a template forgot to escape.
PATH_SAFE = "/%:@!$&()*+,;=-._~"
QUERY_SAFE = "=&;%:@!$()*+,/?-._~"

_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_HOST_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_AMP_CACHE = re.compile(r"^[a-z0-9-]+\.cdn\.ampproject\.org$")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
#: A URL that is already in normal form, but for an empty path and a fragment: lower-case
#: scheme and host of valid labels, no port, user or query, and only characters the path
#: keeps as they are (see PATH_SAFE). Most links on a page are such URLs.
_PLAIN_URL = re.compile(
    r"(https?://)((?:%s\.)*%s)(/[A-Za-z0-9%s]*)?(?:#[^\x00-\x20\x7f]*)?" % (_LABEL, _LABEL, re.escape(PATH_SAFE))
)


def _encode_host(host: str) -> str | None:
    """Lower-case a host name and turn IDN labels into punycode; ``None`` if it is not a host."""
    host = host.rstrip(".").lower()
    if not host or len(host) > 253:
        return None
    if host.startswith("["):
        # IPv6 literal: keep the brackets, store the compressed form.
        if not host.endswith("]") or "%" in host:  # zone ids mean nothing off the machine
            return None
        try:
            return "[%s]" % ipaddress.IPv6Address(host[1:-1]).compressed
        except ValueError:
            return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    labels = host.split(".")
    if not all(_HOST_LABEL.match(label) for label in labels):
        return None
    return host


def _param_matches(name: str, patterns: Iterable[str]) -> bool:
    name = name.lower()
    for pattern in patterns:
        if pattern.endswith("*"):
            if name.startswith(pattern[:-1]):
                return True
        elif name == pattern:
            return True
    return False


def normalize_url(
    url: str,
    *,
    drop_params: Iterable[str] = TRACKING_PARAMS,
    keep_params: Iterable[str] = (),
    fold_aliases: bool = False,
) -> str | None:
    """Return the canonical form of an http(s) URL, or ``None`` when it is not one.

    Lower-cases the scheme and host, encodes IDN hosts as punycode, drops the default port,
    the fragment and tracking parameters (``drop_params``, ``*`` allowed at the end of a
    name; ``keep_params`` wins over it), and gives an empty path as ``/``. With
    ``fold_aliases``, well-known mobile and alternate hosts become their main host
    (``m.facebook.com`` → ``www.facebook.com``) and AMP-cache and AMP-viewer URLs become the
    page they show.
    URLs with credentials (``user:pass@``), control characters or over
    :data:`MAX_URL_LENGTH` characters are refused.

    :param url: any string; hostile input gives ``None``, never an exception.

    >>> normalize_url("HTTPS://Bücher.example:443/a?utm_source=x&id=2#top")
    'https://xn--bcher-kva.example/a?id=2'
    """
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        return None
    if not fold_aliases:
        # The common case, without taking the URL apart (the result is the same).
        plain = _PLAIN_URL.fullmatch(url)
        if plain is not None and len(plain.group(2)) <= 253:
            scheme, host, path = plain.groups()
            return scheme + host + (path or "/")
    try:
        return _normalize(url, drop_params, keep_params, fold_aliases, 0)
    except (ValueError, UnicodeError):
        # urlsplit rejects some bracket forms; quote() rejects lone surrogates.
        return None


def _normalize(
    url: str, drop_params: Iterable[str], keep_params: Iterable[str], fold_aliases: bool, depth: int
) -> str | None:
    url = url.strip()
    if _CONTROL.search(url):
        return None
    parts = urlsplit(url)
    port = parts.port
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or parts.username is not None or parts.password is not None:
        return None
    hostname = parts.hostname
    if not hostname:
        return None
    if ":" in hostname:  # urlsplit strips the brackets from IPv6 literals
        hostname = "[%s]" % hostname
    host = _encode_host(hostname)
    if host is None:
        return None
    if fold_aliases:
        amp_viewer = parts.path.startswith("/amp/") and host.startswith(("www.google.", "google."))
        if (_AMP_CACHE.match(host) or amp_viewer) and depth == 0:
            # AMP caches and Google's AMP viewer serve someone else's page under their name.
            unwrapped = _unwrap_amp_cache(parts.path[4:] if amp_viewer else parts.path)
            if unwrapped is not None:
                return _normalize(unwrapped, drop_params, keep_params, True, depth + 1)
        host = HOST_ALIASES.get(host, host)
        if host.endswith(".m.wikipedia.org"):
            host = host[: -len(".m.wikipedia.org")] + ".wikipedia.org"
    if port is not None and port != (443 if scheme == "https" else 80):
        netloc = "%s:%d" % (host, port)
    else:
        netloc = host
    path = parts.path or "/"
    # Re-quote only what is unsafe; keep existing escapes so /a%2Fb stays distinct from /a/b.
    path = quote(path, safe=PATH_SAFE)
    query = _filter_query(parts.query, drop_params, keep_params) if parts.query else ""
    return urlunsplit((scheme, netloc, path, query, ""))


def _filter_query(query: str, drop_params: Iterable[str], keep_params: Iterable[str]) -> str:
    """Drop tracking parameters, leaving every other parameter byte for byte as it came.

    Splitting on ``&`` rather than decoding and re-encoding keeps parameter order, ``+`` and
    escapes that are not UTF-8 intact, so two visits to one page give one URL.
    """
    usual = drop_params is TRACKING_PARAMS and not keep_params
    drop = tuple(p.lower() for p in drop_params)
    keep = tuple(p.lower() for p in keep_params)
    kept = []
    for segment in query.split("&"):
        if not segment:
            continue
        raw = segment.split("=", 1)[0]
        if usual:
            keeps = not is_tracking(raw)
        else:
            name = unquote_plus(raw)
            keeps = _param_matches(name, keep) or not _param_matches(name, drop)
        if keeps:
            kept.append(segment)
    return quote("&".join(kept), safe=QUERY_SAFE)


def is_tracking(name: str) -> bool:
    """True when :func:`normalize_url` drops a query parameter named ``name`` (as written in the
    URL, escapes and ``+`` included): one of :data:`TRACKING_PARAMS`."""
    tracking = _TRACKING_NAMES.get(name)
    if tracking is None:
        tracking = _param_matches(unquote_plus(name), TRACKING_PARAMS)
        if len(_TRACKING_NAMES) < 4096:
            _TRACKING_NAMES[name] = tracking  # a page's parameters are the same few names
    return tracking


_TRACKING_NAMES: dict[str, bool] = {}


def wsgi_text(value: str) -> str:
    """Undo WSGI's latin-1 decoding of a header or path (PEP 3333) where it was UTF-8.

    Servers hand headers over as latin-1 strings, so a UTF-8 ``Referer`` arrives as
    mojibake. Bytes that are not UTF-8 are taken as latin-1, as they came.
    """
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:  # already text (a log line), or latin-1 bytes
        return value


def _unwrap_amp_cache(path: str) -> str | None:
    """``/c/s/example.com/post`` on ``*.cdn.ampproject.org`` is ``https://example.com/post``."""
    segments = path.lstrip("/").split("/")
    secure = False
    while segments and segments[0] in ("c", "v", "i", "s", "a", "r", "wp"):
        secure = secure or segments[0] == "s"
        segments.pop(0)
    if not segments or "." not in segments[0]:
        return None
    return ("https://" if secure else "http://") + unquote("/".join(segments))


def host_of(url: str) -> str:
    """The host part of an already normalised URL (no port, brackets kept for IPv6)."""
    netloc = url.split("/", 3)[2]
    if netloc.startswith("["):
        return netloc[: netloc.index("]") + 1]
    return netloc.rsplit(":", 1)[0] if ":" in netloc else netloc


def normalize_host(host: str) -> str | None:
    """Normalise a bare host name or ``Host`` header value (port dropped); ``None`` if invalid."""
    if not host or len(host) > 260 or _CONTROL.search(host):
        return None
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1 :]
        if end < 0 or rest and not (rest[0] == ":" and _is_port(rest[1:])):
            return None
        return _encode_host(host[: end + 1])
    if host.count(":") == 1:
        host, _, port = host.partition(":")
        if not _is_port(port):
            return None
    return _encode_host(host)


def _is_port(text: str) -> bool:
    # str.isdigit() also accepts "²" and other Unicode digits.
    return 0 < len(text) <= 5 and text.isascii() and text.isdigit()


@functools.lru_cache(maxsize=4096)
def registrable_domain(host: str) -> str:
    """The registrable domain ("eTLD+1") of a host, from the public suffix list.

    ``blog.example.co.uk`` → ``example.co.uk``; ``alice.github.io`` stays whole, since
    ``github.io`` is a public suffix. IP literals and single-label hosts are their own domain.
    """
    if host.startswith("[") or _is_ipv4(host):
        return host
    return _psl.privatesuffix(host) or host


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


#: Top-level names that never reach the public internet (RFC 6761, RFC 6762, RFC 8375).
PRIVATE_SUFFIXES = ("localhost", "local", "internal", "lan", "home.arpa", "invalid", "intranet")


def is_private_host(host: str) -> bool:
    """True for hosts no outside page can have: loopback, private and link-local addresses,
    single-label names and private-use names (``*.localhost``, ``*.local``, ``*.internal``…).

    >>> is_private_host("127.0.0.1"), is_private_host("printer.local"), is_private_host("a.org")
    (True, True, False)
    """
    literal = host[1:-1] if host.startswith("[") else host
    try:
        ip = ipaddress.ip_address(literal)
    except ValueError:
        return "." not in host or host_in(host, PRIVATE_SUFFIXES)
    return not ip.is_global


def host_in(host: str, domains: Iterable[str]) -> bool:
    """True if ``host`` is one of ``domains`` or a subdomain of one."""
    for domain in domains:
        if host == domain or host.endswith("." + domain):
            return True
    return False


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a blacklist pattern, where ``*`` stands for any run of characters.

    A pattern without ``*`` and ``/`` names a host: it matches that host and its subdomains,
    as referrer-spam lists mean it. A leading ``*.`` also matches the bare domain, so
    ``*.google.*`` blocks ``google.com`` as well as ``www.google.co.uk``.
    """
    pattern = pattern.strip().lower()
    if not pattern:
        raise ValueError("empty pattern")
    if _CONTROL.search(pattern):
        raise ValueError("pattern contains spaces or control characters: %r" % pattern)
    if "*" not in pattern and "/" not in pattern:
        host = _encode_host(pattern)
        if host is None:
            raise ValueError("not a host name: %r" % pattern)
        return re.compile(r"(?:.+\.)?%s" % re.escape(host))
    if not pattern.isascii():
        pattern = "".join(
            _encode_host(part) or part if "." in part else part for part in pattern.split("/")
        )
    body = ".*".join(re.escape(part) for part in pattern.split("*"))
    if pattern.startswith("*."):
        body = r"(?:.*\.)?" + ".*".join(re.escape(part) for part in pattern[2:].split("*"))
    return re.compile(body)


def validate_pattern(pattern: str) -> str:
    """Return the pattern as stored (stripped, lower-case) or raise ``ValueError``."""
    compile_pattern(pattern)
    return pattern.strip().lower()


class PatternSet:
    """Blacklist patterns and host lists, matched against a URL's host and the whole URL.

    Plain host entries (from spam lists) are kept in a set and looked up suffix by suffix,
    so a list of thousands of hosts costs a handful of dictionary look-ups per URL.
    """

    def __init__(self, patterns: Iterable[str] = (), hosts: Iterable[str] = ()) -> None:
        self.hosts: set[str] = set()
        self.regexes: list[re.Pattern[str]] = []
        self.patterns: list[str] = []
        for host in hosts:
            encoded = _encode_host(host.strip())
            if encoded:
                self.hosts.add(encoded)
        for pattern in patterns:
            self.add(pattern)

    def add(self, pattern: str) -> None:
        pattern = validate_pattern(pattern)
        if "*" not in pattern and "/" not in pattern:
            self.hosts.add(_encode_host(pattern) or pattern)
        else:
            self.regexes.append(compile_pattern(pattern))
        self.patterns.append(pattern)

    def __bool__(self) -> bool:
        return bool(self.hosts or self.regexes)

    def match(self, url: str, host: str | None = None) -> bool:
        """True if the normalised ``url`` (or its ``host``) is blacklisted."""
        if host is None:
            host = host_of(url)
        if self.hosts:
            candidate = host
            while True:
                if candidate in self.hosts:
                    return True
                dot = candidate.find(".")
                if dot < 0:
                    break
                candidate = candidate[dot + 1 :]
        if self.regexes:
            bare = url.split("://", 1)[-1]
            for regex in self.regexes:
                if regex.fullmatch(host) or regex.fullmatch(url) or regex.fullmatch(bare):
                    return True
        return False


def read_host_list(path: str) -> list[str]:
    """Read a referrer-spam host list: one host a line, ``#`` comments and blanks ignored."""
    hosts = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                hosts.append(line)
    return hosts
