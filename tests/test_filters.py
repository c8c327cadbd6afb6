from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import BROWSER_UA

from linkback import ConfigError
from linkback.bots import PEOPLE_PATTERNS, is_bot
from linkback.config import Options
from linkback.filters import SKIP_REASONS, Accepted, HitFilter, Skipped, request_path


def rules(**options: Any) -> HitFilter:
    options.setdefault("sites", ["example.com"])
    return HitFilter(Options.from_kwargs(**options))


def check(
    hit_filter: HitFilter,
    referer: str | None,
    *,
    host: str = "example.com",
    path: str = "/post",
    query: str = "",
    scheme: str = "https",
    agent: str = BROWSER_UA,
) -> Accepted | Skipped:
    return hit_filter.check(referer, host, path, query, scheme, agent)


@pytest.mark.parametrize(
    ("referer", "kwargs", "expected"),
    [
        pytest.param("https://blog.example.org/a", {}, "https://blog.example.org/a", id="external referrer counts"),
        pytest.param(None, {}, "no-referrer", id="no referer"),
        pytest.param("", {}, "no-referrer", id="empty referer"),
        pytest.param("javascript:alert(1)", {}, "not-http", id="javascript"),
        pytest.param("data:text/html,x", {}, "not-http", id="data"),
        pytest.param("android-app://com.google.android.gm/", {}, "not-http", id="android app"),
        pytest.param("ftp://files.example.org/", {}, "not-http", id="ftp"),
        pytest.param("https://", {}, "invalid-referrer", id="no host"),
        pytest.param("https://user:pw@blog.example.org/", {}, "invalid-referrer", id="credentials"),
        pytest.param("https://example.com/other", {}, "internal", id="same host"),
        pytest.param("https://www.example.com/other", {}, "internal", id="same registrable domain"),
        pytest.param("http://EXAMPLE.com:8080/x", {}, "internal", id="same host other port"),
        pytest.param("https://docs.example.net/", {"internal_domains": ["example.net"]}, "internal", id="internal_domains"),
        pytest.param("https://example.com.evil.org/", {}, "https://example.com.evil.org/", id="look-alike is external"),
        pytest.param("https://blog.example.org/a", {"agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"}, "bot", id="bot"),
        pytest.param("https://blog.example.org/a", {"agent": ""}, "bot", id="no user agent"),
        pytest.param("https://blog.example.org/a", {"agent": "curl/8.5.0"}, "bot", id="library"),
        pytest.param("https://blog.example.org/a", {"host": "other.org"}, "unknown-site", id="not our site"),
        pytest.param("https://blog.example.org/a", {"host": "shop.example.com"}, "https://blog.example.org/a", id="subdomain of a site"),
        pytest.param("https://blog.example.org/a", {"host": "exa mple.com"}, "invalid-host", id="bad host header"),
        pytest.param("https://blog.example.org/a", {"host": "example.com/../x"}, "invalid-host", id="path in host header"),
        pytest.param("https://blog.example.org/a", {"host": ""}, "invalid-host", id="no host header"),
        pytest.param("http://127.0.0.1:8000/", {}, "private-referrer", id="loopback referrer"),
        pytest.param("http://[::1]/", {}, "private-referrer", id="ipv6 loopback referrer"),
        pytest.param("http://192.168.1.20/wiki", {}, "private-referrer", id="intranet referrer"),
        pytest.param("http://localhost:3000/", {}, "private-referrer", id="localhost referrer"),
        pytest.param("http://127.0.0.1:8000/", {"allow_private_networks": True}, "http://127.0.0.1:8000/", id="private allowed"),
        pytest.param("http://[2606:4700::1111]/a", {}, "http://[2606:4700::1111]/a", id="public ipv6 literal"),
        pytest.param("https://bücher.example/x", {}, "https://xn--bcher-kva.example/x", id="IDN referrer"),
        pytest.param("https://b\xc3\xbccher.example/x", {}, "https://xn--bcher-kva.example/x", id="UTF-8 as WSGI latin-1"),
        pytest.param("https://b\xfccher.example/\xff", {}, "https://xn--bcher-kva.example/%C3%BF", id="latin-1 bytes"),
        pytest.param("https://\x80\x9f.example/", {}, "invalid-referrer", id="not a host in any encoding"),
        pytest.param("https://m.facebook.com/story?id=1&fbclid=x", {}, "https://www.facebook.com/story?id=1", id="alias and tracking"),
        pytest.param("https://casino.example/", {"blacklist": ["casino.example"]}, "blacklisted", id="blacklisted host"),
        pytest.param("https://www.google.de/url?q=x", {"blacklist": ["*.google.*"]}, "blacklisted", id="blacklist glob"),
        pytest.param("https://www.bing.com/search?q=x", {"blacklist": ["*/search?*"]}, "blacklisted", id="blacklist url glob"),
    ],
)
def test_check(referer: str | None, kwargs: dict[str, Any], expected: str) -> None:
    options = {k: kwargs.pop(k) for k in ("internal_domains", "allow_private_networks", "blacklist") if k in kwargs}
    result = check(rules(**options), referer, **kwargs)
    if expected in SKIP_REASONS:
        assert result == Skipped(expected)
    else:
        assert isinstance(result, Accepted)
        assert result.source == expected


@pytest.mark.parametrize(
    ("host", "path", "query", "scheme", "target"),
    [
        ("example.com", "/post", "", "https", "https://example.com/post"),
        ("Example.COM:443", "/post", "", "https", "https://example.com/post"),
        ("example.com:8080", "/post", "", "http", "http://example.com:8080/post"),
        ("example.com", "/post", "utm_source=x&page=2", "https", "https://example.com/post?page=2"),
        ("example.com", "/caf%C3%A9", "", "https", "https://example.com/caf%C3%A9"),
        ("example.com", "/a", "q=\xc3\xa9", "https", "https://example.com/a?q=%C3%A9"),
        ("xn--bcher-kva.example.com", "/", "", "weird", "http://xn--bcher-kva.example.com/"),
    ],
)
def test_target_normalised(host: str, path: str, query: str, scheme: str, target: str) -> None:
    result = check(rules(sites=["example.com"]), "https://blog.example.org/", host=host, path=path,
                   query=query, scheme=scheme)
    assert isinstance(result, Accepted)
    assert result.target == target
    assert result.site == "example.com"


def test_request_path_from_wsgi_strings() -> None:
    assert request_path("", "") == "/"
    assert request_path("/blog", "/post") == "/blog/post"
    assert request_path("", "/caf\xc3\xa9") == "/caf%C3%A9"  # UTF-8 bytes, latin-1 decoded
    assert request_path("", "/a b") == "/a%20b"


def test_without_sites_every_host_is_its_own_site() -> None:
    """Documented: with no ``sites`` a client picks the site with its Host header."""
    open_rules = HitFilter(Options.from_kwargs())
    result = check(open_rules, "https://blog.example.org/", host="anything.example")
    assert isinstance(result, Accepted)
    assert (result.site, result.target) == ("anything.example", "https://anything.example/post")
    assert check(open_rules, "https://blog.example.org/", host="not a host") == Skipped("invalid-host")


def test_extra_patterns_from_the_database() -> None:
    hit_filter = rules()
    assert isinstance(check(hit_filter, "https://spam.example/"), Accepted)
    hit_filter.set_extra_patterns(["spam.example", "not a pattern"])
    assert check(hit_filter, "https://spam.example/") == Skipped("blacklisted")
    hit_filter.set_extra_patterns([])
    assert isinstance(check(hit_filter, "https://spam.example/"), Accepted)


# --- bots ---------------------------------------------------------------------------------------


def _yaml_list(path: Path) -> list[str]:
    """The user agents of an isbot fixture (``name:`` then ``  - agent`` lines)."""
    agents = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("  - "):
            value = line[4:].strip()
            if len(value) > 1 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            agents.append(value)
    return agents


def test_every_listed_crawler_is_a_bot(corpus: Path) -> None:
    data = json.loads((corpus / "crawler-user-agents" / "crawler-user-agents.json").read_text())
    instances = [(e["pattern"], i) for e in data if e["pattern"] not in PEOPLE_PATTERNS for i in e["instances"]]
    assert len(instances) > 2000
    missed = [(p, i) for p, i in instances if not is_bot(i)]
    assert missed == []


#: isbot lists these as browsers; they are automated agents (a screenshot service, a speed
#: tester, Yahoo's crawler, Amazon's agent, Firefox's background fetcher) and stay excluded.
AUTOMATED_IN_BROWSER_FIXTURES = ("MozacFetch/", "Miniature.io/", "GTmetrix", "Yahoo! Slurp", "Amzn-User/")


def test_real_browsers_are_counted(corpus: Path) -> None:
    browsers = _yaml_list(corpus / "isbot" / "fixtures" / "browsers.yml")
    assert len(browsers) > 500
    flagged = [ua for ua in browsers if is_bot(ua)]
    unexpected = [ua for ua in flagged if not any(tag in ua for tag in AUTOMATED_IN_BROWSER_FIXTURES)]
    assert unexpected == []
    assert len(flagged) / len(browsers) <= 0.01  # measured: 5 of 555 (0.9 %)


def test_people_in_app_browsers_are_counted() -> None:
    for agent in (
        "Mozilla/5.0 (Linux; Android 16; Pixel 10 Build/CP1A; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/146.0 Mobile Safari/537.36 MetaIAB Facebook",
        "Viber/12.8.0.1 CFNetwork/1121.2.2 Darwin/19.3.0",
        "Mozilla/5.0 (Linux; Android 4.2.2; CUBOT C11 Build/JDQ39) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/31.0 Mobile Safari/537.36",
        "Lynx/2.8.9rel.1 libwww-FM/2.14 SSL-MM/1.4.1 GNUTLS/3.6.5",
        BROWSER_UA,
    ):
        assert not is_bot(agent), agent


def test_most_isbot_crawlers_are_bots(corpus: Path) -> None:
    crawlers = _yaml_list(corpus / "isbot" / "fixtures" / "crawlers.yml")
    caught = sum(is_bot(ua) for ua in crawlers)
    # isbot's list is wider (it counts apps such as DuckDuckGo's as crawlers); measured 437 of 626.
    assert caught / len(crawlers) >= 0.65


# --- referrer-spam lists ------------------------------------------------------------------------


def test_spam_list_blocks_entries_and_their_subdomains(corpus: Path) -> None:
    path = corpus / "referrer-spam-list" / "spammers.txt"
    entries = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    hit_filter = rules(blacklist_files=[str(path)])
    for entry in entries:
        assert check(hit_filter, "https://%s/page" % entry) == Skipped("blacklisted"), entry
        assert check(hit_filter, "http://sub.%s/" % entry) == Skipped("blacklisted"), entry
    assert isinstance(check(hit_filter, "https://blog.example.org/"), Accepted)


def test_spam_list_subdomain_entry_spares_its_parent(corpus: Path) -> None:
    path = corpus / "referrer-spam-list" / "spammers.txt"
    entries = {line.strip() for line in path.read_text().splitlines() if line.strip()}
    hit_filter = rules(blacklist_files=[str(path)])
    parents = []
    for entry in entries:
        parent = entry.split(".", 1)[1]
        if parent.count(".") >= 1 and not any(parent == e or parent.endswith("." + e) for e in entries):
            parents.append(parent)
    assert parents, "the list has subdomain entries (x.tumblr.com style)"
    for parent in parents:
        assert isinstance(check(hit_filter, "https://%s/" % parent), Accepted), parent


# --- options ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sites": [42]}, "sites"),
        ({"sites": ["not a host"]}, "sites"),
        ({"sites": ["*.example.com"]}, "sites"),
        ({"internal_domains": ["bad host"]}, "internal_domains"),
        ({"blacklist": ["a b"]}, "blacklist"),
        ({"blacklist": [""]}, "blacklist"),
        ({"blacklist_files": ["/nonexistent/list.txt"]}, "blacklist_files: no such file"),
        ({"crawl": "yes"}, "crawl"),
        ({"allow_private_networks": 1}, "allow_private_networks"),
        ({"queue_size": 0}, "queue_size"),
        ({"batch_size": 1.5}, "batch_size"),
        ({"flush_interval": "1"}, "flush_interval"),
        ({"flush_interval": 0}, "flush_interval"),
        ({"crawl_threads": True}, "crawl_threads"),
        ({"prefix": "linkback"}, "prefix"),
        ({"keep_params": [None]}, "keep_params"),
        ({"site": ["example.com"]}, "unknown option: site"),
    ],
)
def test_bad_options_are_named(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("*", r"\*")):
        Options.from_kwargs(**options)


def test_good_options() -> None:
    options = Options.from_kwargs(
        sites="https://Example.COM/", internal_domains=["cdn.example.net"], keep_params=["Ref"],
        flush_interval=0.5, queue_size=10, crawl=False,
    )
    assert options.sites == ("example.com",)
    assert options.keep_params == ("ref",)
    assert (options.flush_interval, options.queue_size, options.crawl) == (0.5, 10, False)
