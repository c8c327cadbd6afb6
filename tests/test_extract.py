"""Verification and extraction rules on synthetic pages (pure functions: plain strings in)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkback import dom
from linkback.extract import (
    analyse,
    decode_html,
    find_links,
    links_to,
    make_blurb,
    parse_html,
    strip_site_suffix,
    verify,
    window,
)

TARGET = "https://example.com/post"
PAGE = "https://blog.example/2024/05/hello/"


def page(body: str, head: str = "") -> str:
    return "<!doctype html><html><head>%s</head><body>%s</body></html>" % (head, body)


# --- verification ------------------------------------------------------------------------------

@pytest.mark.parametrize("href,linked", [
    pytest.param("https://example.com/post", True, id="exact"),
    pytest.param("http://example.com/post", True, id="http equals https"),
    pytest.param("https://www.example.com/post", True, id="www equals bare"),
    pytest.param("https://example.com/post/", True, id="trailing slash"),
    pytest.param("https://example.com/post#comments", True, id="fragment ignored"),
    pytest.param("https://example.com/post?utm_source=x&fbclid=y", True, id="tracking ignored"),
    pytest.param("HTTPS://EXAMPLE.COM/post", True, id="case of scheme and host"),
    pytest.param("https://example.com:443/post", True, id="default port"),
    pytest.param("  https://example.com/post  ", True, id="spaces around"),
    pytest.param("https://example.com/post?id=2", False, id="real query differs"),
    pytest.param("https://example.com/posts", False, id="other path"),
    pytest.param("https://evil.example/?u=https://example.com/post", False, id="named in a query"),
    pytest.param("https://example.com.evil.example/post", False, id="lookalike host"),
    pytest.param("javascript:'https://example.com/post'", False, id="javascript"),
])
def test_link_matching(href: str, linked: bool) -> None:
    assert verify(page('<a href="%s">x</a>' % href), PAGE, TARGET) is linked


def test_relative_links_resolve_against_base_href_and_final_url() -> None:
    html = page('<a href="../post">x</a>', head='<base href="https://example.com/blog/">')
    assert verify(html, "https://elsewhere.example/", TARGET)
    # Without <base>, the page's own (final) URL is the base.
    assert verify(page('<a href="/post">x</a>'), "https://example.com/other", TARGET)
    assert not verify(page('<a href="/post">x</a>'), "https://blog.example/", TARGET)


def test_area_counts_and_media_only_with_include_media() -> None:
    assert verify(page('<map><area href="https://example.com/post"></map>'), PAGE, TARGET)
    media = page('<img src="https://example.com/post">')
    assert not verify(media, PAGE, TARGET)
    assert verify(media, PAGE, TARGET, include_media=True)
    assert verify(page('<video src="https://example.com/post"></video>'), PAGE, TARGET, include_media=True)


def test_links_in_comments_scripts_and_text_do_not_count() -> None:
    html = page('<!-- <a href="https://example.com/post">x</a> -->'
                '<script>document.write("<a href=https://example.com/post>")</script>'
                '<p>https://example.com/post</p>')
    assert not verify(html, PAGE, TARGET)


def test_broken_html_still_parses() -> None:
    html = '<html><body><div><p>Unclosed <b>bold <a href="https://example.com/post">link<table><td>x'
    assert verify(html, PAGE, TARGET)
    assert parse_html("") is None
    assert parse_html("   ") is None
    assert not verify(b"\x00\xff\xfe garbage", PAGE, TARGET)


def test_no_entity_or_dtd_is_ever_loaded() -> None:
    html = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
            '<html><body><p>&secret;</p><a href="https://example.com/post">x</a></body></html>')
    tree = parse_html(html)
    text = "".join(tree.itertext())
    assert "root:" not in text
    assert verify(html, PAGE, TARGET)


def test_find_links_lists_every_http_link() -> None:
    tree = parse_html(page('<a href="/a">a</a><a href="mailto:x@y">m</a><a>no</a><img src="/i.png">'))
    assert [u for _el, u in find_links(tree, PAGE)] == ["https://blog.example/a"]
    assert len(find_links(tree, PAGE, include_media=True)) == 2


# --- title, site name, favicon, gone ------------------------------------------------------------

@pytest.mark.parametrize("title,site,expected", [
    ("Hello world | My Blog", "My Blog", "Hello world"),
    ("Hello world – My Blog", "My Blog", "Hello world"),
    ("Hello world - blog.example", "blog.example", "Hello world"),
    ("My Blog » Hello world", "My Blog", "Hello world"),
    ("Hello world | Some Site", None, "Hello world"),
    ("Spider-Man - a review", "Other", "Spider-Man - a review"),
    ("Plain title", "My Blog", "Plain title"),
])
def test_site_suffixes_are_removed_from_titles(title: str, site: str | None, expected: str) -> None:
    assert strip_site_suffix(title, site) == expected


def test_title_order_entry_then_og_then_title() -> None:
    head = '<title>Doc title | Site</title><meta property="og:title" content="OG title">' \
           '<meta property="og:site_name" content="Site">'
    linked = '<a href="https://example.com/post">x</a>'
    assert analyse(page("<p>%s</p>" % linked, head), PAGE, TARGET).title == "OG title"
    assert analyse(page("<p>%s</p>" % linked, "<title>Doc title | Site</title>"), PAGE, TARGET).title == "Doc title"
    entry = '<article class="h-entry"><h2 class="p-name">Entry title</h2><p>%s</p></article>' % linked
    assert analyse(page(entry, head), PAGE, TARGET).title == "Entry title"


def test_site_name_favicon_and_gone_signal() -> None:
    head = ('<meta property="og:site_name" content="The Blog"><link rel="icon" href="/fav.png">'
            '<meta http-equiv="Status" content="410 Gone">')
    result = analyse(page('<a href="https://example.com/post">x</a>', head), PAGE, TARGET)
    assert result.site_name == "The Blog"
    assert result.favicon == "https://blog.example/fav.png"
    assert result.gone and not result.verified
    bare = analyse(page('<a href="https://example.com/post">x</a>'), "https://www.blog.example/a", TARGET)
    assert bare.site_name == "blog.example" and bare.favicon == "https://www.blog.example/favicon.ico"
    assert not bare.gone and bare.verified


def test_favicon_never_takes_a_script_url() -> None:
    head = '<link rel="icon" href="javascript:alert(1)">'
    assert analyse(page("", head), PAGE, TARGET).favicon == "https://blog.example/favicon.ico"


# --- blurb ---------------------------------------------------------------------------------------

def test_blurb_marks_the_link_and_excludes_invisible_text() -> None:
    body = ('<nav>Home About</nav><article><p>Before text <script>var x=1;</script>'
            '<style>p{}</style><span hidden>secret</span><span style="display: none">gone</span>'
            '<a href="https://example.com/post">the <b>link</b> text</a>   after\n\ntext.</p>'
            '<form class="comment-form"><textarea>reply</textarea></form></article>')
    result = analyse(page(body), PAGE, TARGET)
    assert result.blurb == "Before text the link text after text."
    assert result.blurb[result.blurb_start:result.blurb_end] == "the link text"


def test_blurb_is_cut_at_words_with_ellipses() -> None:
    words = " ".join("word%d" % i for i in range(200))
    body = '<p>%s <a href="https://example.com/post">LINK</a> %s</p>' % (words, words)
    result = analyse(page(body), PAGE, TARGET)
    blurb = result.blurb
    assert 200 <= len(blurb) <= 260
    assert blurb.startswith("…") and blurb.endswith("…")
    assert blurb[result.blurb_start:result.blurb_end] == "LINK"
    assert all(w.startswith("word") or w in ("LINK", "…") for w in blurb.strip("…").split())


def test_blurb_of_an_image_link_uses_its_alt() -> None:
    body = '<p>Look: <a href="https://example.com/post"><img src="x.png" alt="a diagram"></a> here.</p>'
    result = analyse(page(body), PAGE, TARGET)
    assert result.blurb[result.blurb_start:result.blurb_end] == "a diagram"


def test_blurb_grows_past_a_short_block() -> None:
    body = ("<div><p>%s</p><ul><li><a href='https://example.com/post'>short</a></li></ul></div>"
            % ("Context sentence here. " * 5))
    result = analyse(page(body), PAGE, TARGET)
    assert "Context sentence" in result.blurb


@given(st.text(max_size=400), st.text(max_size=50), st.text(max_size=400), st.integers(20, 400))
@settings(max_examples=300, deadline=None)
def test_window_keeps_the_link_and_the_length(before: str, inside: str, after: str, length: int) -> None:
    text = before + inside + after
    blurb, start, end = window(text, len(before), len(before) + len(inside), length)
    assert 0 <= start <= end <= len(blurb)
    assert len(blurb) <= length + 2
    core = " ".join(inside.split())
    if len(core) < length:
        assert blurb[start:end] == core
    assert "  " not in blurb


@given(st.text(max_size=2000))
@settings(max_examples=200, deadline=None)
def test_analyse_never_raises_on_any_text(html: str) -> None:
    result = analyse(html, PAGE, TARGET)
    assert isinstance(result.verified, bool)


@given(st.lists(st.sampled_from([
    "<p>", "</p>", "<div>", "</div>", "<article class='h-entry'>", "</article>", "<a href='https://example.com/post'>",
    "</a>", "<li>", "<ul>", "text ", "<h2>", "</h2>", "<a href='/2024/01/x/'>", "<table>", "<td>", "&amp;",
    "<script>", "</script>", "<!--", "-->", "<base href='https://example.com/'>", "<a href='post'>",
]), max_size=60))
@settings(max_examples=300, deadline=None)
def test_analyse_is_consistent_on_random_markup(parts: list[str]) -> None:
    html = "".join(parts)
    result = analyse(html, PAGE, TARGET)
    assert result.verified == verify(html, PAGE, TARGET)
    if result.verified:
        assert result.blurb is not None
        assert 0 <= result.blurb_start <= result.blurb_end <= len(result.blurb)
        assert result.permalink.startswith("https://")


def test_make_blurb_on_a_lone_link() -> None:
    tree = parse_html("<a href='https://example.com/post'>only</a>")
    link = tree.find(".//a")
    assert make_blurb(link) == ("only", 0, 4)


# --- authors and dates ------------------------------------------------------------------------------

def test_author_from_h_card_rel_author_and_meta() -> None:
    card = ('<article class="h-entry"><a class="p-author h-card" href="/me"><img src="/me.jpg" alt="">'
            'Ann Author</a><p><a href="https://example.com/post">x</a></p>'
            '<time class="dt-published" datetime="2024-05-01T10:00:00+02:00">May 1</time></article>')
    result = analyse(page(card), PAGE, TARGET)
    assert (result.author_name, result.author_url, result.author_photo) == (
        "Ann Author", "https://blog.example/me", "https://blog.example/me.jpg")
    assert result.published == "2024-05-01T08:00:00Z"
    rel = page('<p><a href="https://example.com/post">x</a> by <a rel="author" href="/about">Bob</a></p>')
    result = analyse(rel, PAGE, TARGET)
    assert (result.author_name, result.author_url) == ("Bob", "https://blog.example/about")
    meta = page('<p><a href="https://example.com/post">x</a></p>',
                '<meta name="author" content="Carol"><meta property="article:published_time" content="2023-01-02">')
    result = analyse(meta, PAGE, TARGET)
    assert result.author_name == "Carol" and result.published == "2023-01-02"


@pytest.mark.parametrize("card,name", [
    pytest.param('<div class="h-card"><a class="u-url" href="/">me</a><p>Hi, I\'m <span class="p-name">Aaron'
                 '<span style="display:none;"> Parecki</span></span>,  co-founder of <a class="p-org h-card" '
                 'href="https://indieweb.org/">IndieWebCamp</a>.</p></div>', "Aaron Parecki",
                 id="hidden part of the name, a tail, a nested card"),
    pytest.param('<p class="h-card"><a class="p-name u-url" href="/">Ann <span class="sr-only">B.</span> Lee'
                 '<script>x()</script></a> writes here</p>', "Ann B. Lee", id="screen-reader text and a script"),
    pytest.param('<div class="h-card"><a class="u-url fn" href="/"><img alt="User Avatar" src="/a.jpg"></a>'
                 '<abbr class="p-name" title="Carol Doe">Carol</abbr></div>', "Carol Doe",
                 id="abbr title; an avatar's alt is no name"),
])
def test_h_card_names_are_read_as_microformats_parsers_read_them(card: str, name: str) -> None:
    # mf2: a p-* value is the element's textContent, so text hidden by CSS belongs to it and
    # the text after the element does not.
    html = page('<p><a href="https://example.com/post">x</a></p>%s' % card)
    assert analyse(html, PAGE, TARGET).author_name == name


def test_json_ld_author_and_date() -> None:
    head = ('<script type="application/ld+json">{"@graph": [{"@type": "BlogPosting", '
            '"author": {"name": "Dana", "url": "/dana"}, "datePublished": "2022-02-03T04:05:06Z"}]}</script>')
    result = analyse(page('<p><a href="https://example.com/post">x</a></p>', head), PAGE, TARGET)
    assert (result.author_name, result.author_url) == ("Dana", "https://blog.example/dana")
    assert result.published == "2022-02-03T04:05:06Z"


# --- decoding --------------------------------------------------------------------------------------

@pytest.mark.parametrize("content,content_type,expected", [
    ("café".encode(), "text/html; charset=utf-8", "café"),
    ("café".encode("latin-1"), "text/html; charset=iso-8859-1", "café"),
    ("café".encode("latin-1"), "text/html", "café"),
    (b'<meta charset="windows-1252">caf\xe9', "text/html", '<meta charset="windows-1252">café'),
    (b"\xef\xbb\xbfcaf\xc3\xa9", "text/html; charset=latin-1", "café"),
    ("€".encode("cp1252"), "text/html; charset=bogus", "€"),
])
def test_decode_html(content: bytes, content_type: str, expected: str) -> None:
    assert decode_html(content, content_type) == expected


def test_a_quick_page_finds_what_a_full_walk_finds() -> None:
    from linkback import dom
    html = ('<html><head><title>T</title><meta name="a" content="  x \n y "><base href="/b/">'
            '<link rel="icon" href="/i.png"><script>1</script></head><body><a href="/1">1</a>'
            '<map><area href="/2"></map><time datetime="2024-01-01">d</time><a href="/3">3</a></body></html>')
    full = dom.Page(parse_html(html), html)
    for tag in (*dom.Page.WALKED, "links", "p"):
        quick = dom.Page(full.tree, html, dom.Page.QUICK)
        assert quick.tagged(tag) == full.tagged(tag), tag
    quick = dom.Page(full.tree, html, dom.Page.QUICK)
    assert [el.tag for el in quick.tagged("links")] == ["a", "area", "a"]
    assert quick.walked() == full.walked() and quick.tagged("script") == full.tagged("script")
    assert quick.meta("a") == "x y"


_HREFS = [
    "https://example.com/post", "HTTPS://Example.COM/post", "//example.com/post/", "https://example.com/posts",
    "https://example.com/POST", "https://other.example/post", "/post", "post", "https://www.example.com/post?utm_source=x",
    "https://example.com/a/../post", "https://exämple.com/post", "https://example.com/p%6Fst", "",
    "https://evil.example/?u=example.com/post", "mailto:post@example.com", "https://example.com/",
]


@given(st.lists(st.sampled_from(_HREFS), max_size=30), st.sampled_from([PAGE, "https://example.com/other"]))
@settings(max_examples=150, deadline=None)
def test_links_to_agrees_with_resolving_every_link(hrefs: list[str], page_url: str) -> None:
    # The search over all hrefs at once must find exactly what resolving each link finds.
    tree = parse_html(page("".join('<a href="%s">x</a>' % h for h in hrefs) or "<p>none</p>"))
    expected = [a for a in tree.iter("a")
                if dom.resolve(page_url, a.get("href")) and dom.link_key(dom.resolve(page_url, a.get("href")))
                == dom.link_key(TARGET)]
    assert links_to(tree, page_url, TARGET) == expected
