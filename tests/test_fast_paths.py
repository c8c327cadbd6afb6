"""The shortcuts extraction takes on plain input give what the general code gives.

Each fast path (plain URLs normalised, resolved and their host read without urllib's
parsing; whitespace collapsed with ``str.split``; links compared without normalising; a NUL
left to the parser; the page handed to libxml2 as UTF-8) is
checked against the slow path it stands for, on generated input built from the characters
that change the answer.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import lxml.etree
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkback import dom, extract, urls

#: Pieces URLs are made of, the troublesome ones among them.
_PIECES = st.sampled_from([
    *"abAB09_-.:/?#%@;=&~!$'()*+, \t\n\x00\x01\x7fé[]\\",
    "http://", "https://", "HTTP://", "www.", "//", "./", "../", "/.", ":8080", "%2F", "xn--", "a" * 64,
])
_TEXT = st.lists(_PIECES, max_size=14).map("".join)
_BASES = st.sampled_from([
    "https://ex.com/a/b", "http://ex.com/", "https://ex.com", "https://ex.com/a/b/", "https://x.org/a?b#c",
    "https://ex.com//a/b", "https://ex.com/a/./b", "HTTP://Ex.com/a", "https://u@ex.com:80/a;p/b",
    "https://ex.com/a b/c", "ftp://ex.com/a", "https://[::1]/a/b", "https://ex.com/%7E/b", "",
]) | _TEXT.map(lambda text: "https://h.example/" + text)


def _slow_normalize(url: str) -> str | None:
    """normalize_url without its shortcut for plain URLs."""
    if not url or len(url) > urls.MAX_URL_LENGTH:
        return None
    try:
        return urls._normalize(url, urls.TRACKING_PARAMS, (), False, 0)
    except (ValueError, UnicodeError):
        return None


def _slow_resolve(base: str, href: str) -> str | None:
    """dom.resolve as urljoin alone answers it."""
    href = href.strip()
    if not href or href.startswith(("#", "javascript:", "mailto:", "data:", "tel:")):
        return None
    try:
        url = urljoin(base, href)
    except ValueError:
        return None
    return url if url.startswith(("http://", "https://")) else None


def _slow_host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


@settings(max_examples=400)
@given(_TEXT)
def test_plain_urls_normalise_as_urllib_does(text: str) -> None:
    for url in (text, "http://" + text, "https://ex.com/" + text, "https://" + text):
        assert urls.normalize_url(url) == _slow_normalize(url), url


@settings(max_examples=400)
@given(_TEXT, _BASES)
def test_links_resolve_as_urljoin_does(text: str, base: str) -> None:
    for href in (text, "/" + text, "./" + text, "a/" + text, "https://" + text):
        assert dom.resolve(base, href) == _slow_resolve(base, href), (base, href)


@settings(max_examples=400)
@given(_TEXT)
def test_hosts_read_as_urlsplit_does(text: str) -> None:
    for url in (text, "http://" + text, "https://ex.com:8080" + text):
        assert dom.host(url) == _slow_host(url), url


@given(st.text(alphabet=st.sampled_from(list("ab \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2009\u3000\u200b")), max_size=20)
       | st.text(max_size=20))
def test_collapse_is_the_whitespace_regex(text: str) -> None:
    assert dom.collapse(text) == re.sub(r"\s+", " ", text)


_STR_PARSER = lxml.etree.HTMLParser(
    no_network=True, remove_comments=True, remove_pis=True, collect_ids=False, default_doctype=False
)


@given(st.sampled_from(["", '<meta charset="iso-8859-1">', '<meta charset="shift_jis">']),
       st.text(alphabet=st.sampled_from(list("<>/=\"' apbé€😀\u0100&#;")), min_size=1, max_size=60)
       | st.text(min_size=1, max_size=60))
def test_a_page_given_as_utf8_parses_as_the_text_itself(head: str, text: str) -> None:
    # parse_html hands libxml2 the page as UTF-8; the tree is the one lxml builds from the
    # str itself, whatever charset the page claims.
    page = "<html><head>%s</head><body>%s</body></html>" % (head, text)
    assert lxml.etree.tostring(extract.parse_html(page)) == lxml.etree.tostring(
        lxml.etree.fromstring(page, parser=_STR_PARSER))


@pytest.mark.skipif(not extract._HTML5_INPUT, reason="libxml2 before 2.14 is handed the str itself")
def test_a_lone_surrogate_reads_as_the_replacement_character() -> None:
    tree = extract.parse_html("<p>before\ud800after</p>")
    assert tree is not None
    assert dom.collapse("".join(tree.itertext())) == "before\ufffdafter"


@given(st.text(alphabet=st.sampled_from(list("<>/=\"' apbscriptlehd\x00\ufffd&#;")), max_size=60))
def test_a_nul_parses_as_the_replacement_character(text: str) -> None:
    # With libxml2 2.14 the parser replaces a NUL itself (parse_html no longer searches the
    # page for one); either way the tree is the one the replaced text gives.
    page = "<html><body>%s</body></html>" % text
    tree = extract.parse_html(page)
    assert tree is not None
    replaced = extract.parse_html(page.replace("\x00", "\ufffd"))
    assert lxml.etree.tostring(tree) == lxml.etree.tostring(replaced)


@pytest.mark.parametrize(("href", "matches"), [
    pytest.param("https://t.example/p?id=1&utm_source=x", True, id="tracking parameter dropped"),
    pytest.param("https://t.example/p?utm_source=x&id=1&fbclid=y", True, id="tracking on both sides"),
    pytest.param("https://t.example/p?id=1&id=1", False, id="parameter twice"),
    pytest.param("https://t.example/p?id=2&utm_source=x", False, id="another value"),
    pytest.param("https://t.example/p?page=1&utm_source=x", False, id="another parameter"),
    pytest.param("https://t.example/p?id=1&utm_source=x&q='a'", None, id="a character normalising escapes"),
])
def test_links_with_tracking_parameters_compare_as_normalised(href: str, matches: bool | None) -> None:
    key = dom.link_key("https://t.example/p?id=1")
    assert extract._fast_match(href, key) is matches  # None: left to the full comparison
    assert (dom.link_key(href) == key) is bool(matches)


def test_a_link_with_an_escaped_query_matches_its_normal_form() -> None:
    target = "https://t.example/p?q=%27a%27"
    tree = extract.parse_html("<p><a href=\"https://t.example/p?q='a'\">t</a></p>")
    assert [a.text for a in extract.links_to(tree, "https://blog.example/", target)] == ["t"]


def test_a_page_with_a_non_ascii_link_still_finds_the_target_among_the_others() -> None:
    page = ('<html><body><a href="https://bücher.example/x">b</a><a href="https://T.EXAMPLE/p">t</a>'
            '<a href="https://other.example/">o</a><a href="https://xn--bcher-kva.example/x">p</a></body></html>')
    tree = extract.parse_html(page)
    assert [a.text for a in extract.links_to(tree, "https://blog.example/", "https://t.example/p")] == ["t"]
    assert [a.text for a in extract.links_to(tree, "https://blog.example/", "https://bücher.example/x")] == ["b", "p"]


def test_a_quick_page_reads_the_other_metas_when_asked() -> None:
    html = ('<html><head><meta property="og:title" content="T"><meta name="author" content="Ann">'
            '<meta http-equiv="Status" content="410 Gone"></head><body></body></html>')
    page = dom.Page(extract.parse_html(html), html, dom.Page.QUICK)
    assert page.meta("og:title") == "T"
    assert page.meta("http-equiv:status") == "410 Gone"
    assert page.meta("author") == "Ann"  # not among the quick names: all are read now
    assert page.meta("og:title") == "T"


@pytest.mark.parametrize(("attributes", "hidden"), [
    pytest.param("", False, id="no attributes"),
    pytest.param('href="/x" title="t"', False, id="attributes that cannot hide"),
    pytest.param("hidden", True, id="hidden"),
    pytest.param('aria-hidden="true"', True, id="aria-hidden"),
    pytest.param('aria-hidden="false"', False, id="aria-hidden false"),
    pytest.param('style="color: red"', False, id="a style that shows"),
    pytest.param('style="DISPLAY: None"', True, id="display none, any case and spacing"),
    pytest.param('style="visibility:hidden"', True, id="visibility hidden"),
    pytest.param('class="entry screen-reader-text"', True, id="a hiding class"),
    pytest.param('class="hiddenish"', False, id="a class that only contains one"),
])
def test_is_hidden(attributes: str, hidden: bool) -> None:
    el = extract.parse_html("<p><span %s>x</span></p>" % attributes).find(".//span")
    assert dom.is_hidden(el) is hidden
