from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkback import urls
from linkback.urls import normalize_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("HTTPS://Example.COM/Path", "https://example.com/Path", id="host lower-cased, path kept"),
        pytest.param("https://example.com", "https://example.com/", id="empty path becomes /"),
        pytest.param("http://example.com:80/a", "http://example.com/a", id="default http port dropped"),
        pytest.param("https://example.com:443/a", "https://example.com/a", id="default https port dropped"),
        pytest.param("https://example.com:8443/a", "https://example.com:8443/a", id="other port kept"),
        pytest.param("http://example.com:443/a", "http://example.com:443/a", id="https port on http kept"),
        pytest.param("https://example.com/a#section", "https://example.com/a", id="fragment dropped"),
        pytest.param("https://bücher.example/ä", "https://xn--bcher-kva.example/%C3%A4", id="IDN to punycode"),
        pytest.param("https://EXAMPLE.com./a", "https://example.com/a", id="trailing dot"),
        pytest.param("https://example.com/a%2Fb", "https://example.com/a%2Fb", id="escapes kept"),
        pytest.param("https://example.com/a b", None, id="space refused"),
        pytest.param(
            "https://example.com/a?utm_source=x&utm_medium=y&id=3&fbclid=z&gclid=1&mc_eid=2",
            "https://example.com/a?id=3",
            id="tracking parameters dropped",
        ),
        pytest.param("https://example.com/?UTM_Source=x", "https://example.com/", id="parameter names case-insensitive"),
        pytest.param("https://example.com/?b=2&a=1+1&c=%FF", "https://example.com/?b=2&a=1+1&c=%FF", id="query kept byte for byte"),
        pytest.param("https://example.com/?utm_source=x&&b=", "https://example.com/?b=", id="empty segments dropped"),
        pytest.param("https://example.com/?utm_source=x", "https://example.com/", id="query emptied"),
        pytest.param("http://[2001:DB8:0:0::1]:80/x", "http://[2001:db8::1]/x", id="ipv6 literal compressed"),
        pytest.param("http://[::1%25eth0]/", None, id="ipv6 zone id refused"),
        pytest.param("http://[::1/", None, id="unclosed bracket"),
        pytest.param("http://192.0.2.1:8080/", "http://192.0.2.1:8080/", id="ipv4 literal"),
        pytest.param("https://user:pw@example.com/", None, id="credentials refused"),
        pytest.param("https://user@example.com/", None, id="user name refused"),
        pytest.param("javascript:alert(1)", None, id="javascript"),
        pytest.param("data:text/html,<script>", None, id="data"),
        pytest.param("ftp://example.com/", None, id="ftp"),
        pytest.param("//example.com/", None, id="scheme-relative"),
        pytest.param("/relative", None, id="relative"),
        pytest.param("http://", None, id="no host"),
        pytest.param("http://exa mple.com/", None, id="space in host"),
        pytest.param("http://exa\x00mple.com/", None, id="NUL"),
        pytest.param("http://example.com/\r\nSet-Cookie: x", None, id="header injection"),
        pytest.param("http://example.com:99999/", None, id="port out of range"),
        pytest.param("http://example.com:x/", None, id="port not a number"),
        pytest.param("http://-bad-.com/", None, id="bad label"),
        pytest.param("http://a..b/", None, id="empty label"),
        pytest.param("http://" + "a" * 64 + ".com/", None, id="label too long"),
        pytest.param("https://example.com/" + "a" * 9000, None, id="over 8 KB"),
        pytest.param("http://example.com/\udcff", None, id="lone surrogate"),
        pytest.param("http://\u0080\u00ff.com/", None, id="latin-1 junk host"),
        pytest.param("  https://example.com/a  ", "https://example.com/a", id="surrounding blanks"),
        pytest.param("https://example.com/it's?q='x'", "https://example.com/it%27s?q=%27x%27", id="apostrophe encoded"),
    ],
)
def test_normalize_url(url: str, expected: str | None) -> None:
    assert normalize_url(url) == expected


def test_keep_params_wins_over_drop_params() -> None:
    url = "https://example.com/?utm_campaign=launch&utm_source=x&ref=hn"
    assert normalize_url(url, keep_params=["utm_campaign"]) == "https://example.com/?utm_campaign=launch&ref=hn"
    assert normalize_url(url, drop_params=["ref"]) == "https://example.com/?utm_campaign=launch&utm_source=x"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://m.facebook.com/story.php?id=1", "https://www.facebook.com/story.php?id=1"),
        ("https://l.facebook.com/", "https://www.facebook.com/"),
        ("https://old.reddit.com/r/python/", "https://www.reddit.com/r/python/"),
        ("https://reddit.com/r/python/", "https://www.reddit.com/r/python/"),
        ("https://mobile.twitter.com/a", "https://twitter.com/a"),
        ("https://en.m.wikipedia.org/wiki/X", "https://en.wikipedia.org/wiki/X"),
        ("https://amp.theguardian.com/a", "https://www.theguardian.com/a"),
        ("https://www-example-com.cdn.ampproject.org/c/s/www.example.com/a", "https://www.example.com/a"),
        ("https://www.google.com/amp/s/example.com/post", "https://example.com/post"),
        ("https://news.ycombinator.com/item?id=1", "https://news.ycombinator.com/item?id=1"),
    ],
)
def test_referrer_aliases_folded(url: str, expected: str) -> None:
    assert normalize_url(url, fold_aliases=True) == expected


def test_aliases_not_folded_for_our_pages() -> None:
    assert normalize_url("https://m.facebook.com/x") == "https://m.facebook.com/x"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("Example.COM", "example.com"),
        ("example.com:8080", "example.com"),
        ("example.com:", None),
        ("example.com:²", None),
        ("example.com:1:2", None),
        ("[::1]", "[::1]"),
        ("[::1]:8080", "[::1]"),
        ("[::1]junk", None),
        ("[nonsense]", None),
        ("bücher.de", "xn--bcher-kva.de"),
        ("exa mple.com", None),
        ("evil.com/path", None),
        ("user@evil.com", None),
        ("", None),
        ("a" * 300, None),
    ],
)
def test_normalize_host(host: str, expected: str | None) -> None:
    assert urls.normalize_host(host) == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("blog.example.co.uk", "example.co.uk"),
        ("www.example.com", "example.com"),
        ("alice.github.io", "alice.github.io"),
        ("192.0.2.1", "192.0.2.1"),
        ("[2001:db8::1]", "[2001:db8::1]"),
        ("localhost", "localhost"),
    ],
)
def test_registrable_domain(host: str, expected: str) -> None:
    assert urls.registrable_domain(host) == expected


@pytest.mark.parametrize(
    ("host", "private"),
    [
        ("127.0.0.1", True), ("10.1.2.3", True), ("192.168.0.1", True), ("169.254.1.1", True),
        ("[::1]", True), ("[fe80::1]", True), ("[fd00::1]", True), ("localhost", True),
        ("app.localhost", True), ("printer.local", True), ("db.internal", True), ("intranet", True),
        ("8.8.8.8", False), ("[2606:4700::1111]", False), ("example.com", False),
        ("blog.example.org", False),
    ],
)
def test_is_private_host(host: str, private: bool) -> None:
    assert urls.is_private_host(host) is private


@pytest.mark.parametrize(
    ("pattern", "url", "matches"),
    [
        ("*.google.*", "https://www.google.co.uk/search?q=x", True),
        ("*.google.*", "https://google.com/", True),
        ("*.google.*", "https://notgoogle.com/", False),
        ("*/search?*", "https://www.bing.com/search?q=x", True),
        ("*/search?*", "https://www.bing.com/searching", False),
        ("spam.example", "https://spam.example/", True),
        ("spam.example", "https://www.spam.example/", True),
        ("spam.example", "https://notspam.example/", False),
        ("www.spam.example", "https://spam.example/", False),
        ("example.org/private/*", "https://example.org/private/a", True),
        ("example.org/private/*", "https://example.org/public/a", False),
        ("*casino*", "https://best-casino.example/", True),
        ("BÜCHER.example", "https://xn--bcher-kva.example/", True),
    ],
)
def test_blacklist_patterns(pattern: str, url: str, matches: bool) -> None:
    normalized = normalize_url(url)
    assert normalized is not None
    assert urls.PatternSet([pattern]).match(normalized) is matches


@pytest.mark.parametrize("pattern", ["", "  ", "a b", "bad\x00", "-bad-.com"])
def test_invalid_patterns(pattern: str) -> None:
    with pytest.raises(ValueError):
        urls.validate_pattern(pattern)


def test_read_host_list(tmp_path) -> None:
    path = tmp_path / "hosts.txt"
    path.write_text("# comment\nspam.example\n\n  other.example  # trailing\n")
    assert urls.read_host_list(str(path)) == ["spam.example", "other.example"]


@given(st.text(max_size=300))
def test_normalize_url_never_raises(text: str) -> None:
    result = normalize_url(text, fold_aliases=True)
    if result is not None:
        assert result.isascii()
        assert result.startswith(("http://", "https://"))
        assert not any(ch in result for ch in "\x00\r\n\t #\"<>")


_hosts = st.from_regex(r"[a-z](?:[a-z0-9-]{0,8}[a-z0-9])?\.(com|org|co\.uk|de)", fullmatch=True)
_paths = st.lists(st.text(min_size=0, max_size=8), max_size=4).map(lambda parts: "/" + "/".join(parts))
_queries = st.lists(
    st.tuples(st.sampled_from(["id", "utm_source", "page", "fbclid", "q"]), st.text(max_size=6)),
    max_size=4,
)


@given(_hosts, _paths, _queries)
def test_normalize_url_is_idempotent(host: str, path: str, query: list[tuple[str, str]]) -> None:
    from urllib.parse import quote

    url = "https://%s%s?%s" % (host.upper(), quote(path), "&".join("%s=%s" % (k, quote(v)) for k, v in query))
    once = normalize_url(url)
    assert once is not None
    assert normalize_url(once) == once
    assert "utm_source" not in once and "fbclid" not in once
