"""Finding the entry that holds a link, and its permalink, on listing pages."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from linkback.extract import analyse

TARGET = "https://example.com/post"
LINK = '<a href="https://example.com/post">this</a>'
LISTING = "https://blog.example/"


def listing(entry: str, count: int = 3) -> str:
    """A page with ``count`` entries made from ``entry`` (``{n}`` numbers them); the second links to us."""
    parts = []
    for n in range(1, count + 1):
        body = entry.replace("{n}", str(n)).replace("{link}", LINK if n == 2 else "nothing")
        parts.append(body)
    return "<html><head><title>Blog</title></head><body>%s</body></html>" % "".join(parts)


@pytest.mark.parametrize("entry,expected", [
    pytest.param('<div class="h-entry"><p class="p-name">Note {n}</p><p>{link}</p>'
                 '<a class="u-url" href="/notes/{n}">#</a></div>', "https://blog.example/notes/2", id="h-entry u-url"),
    pytest.param('<div class="hentry"><h2 class="entry-title"><a rel="bookmark" href="/p/{n}">T{n}</a></h2>'
                 '<div class="entry-content">{link}</div></div>', "https://blog.example/p/2", id="hentry rel=bookmark"),
    pytest.param('<article><header><h2><a href="/posts/title-{n}">Title {n}</a></h2></header><p>{link}</p></article>',
                 "https://blog.example/posts/title-2", id="article heading link"),
    pytest.param('<div class="post" id="post-{n}"><h3>T{n}</h3><p>{link}</p>'
                 '<a class="more-link" href="/?p={n}">Continue reading</a></div>', "https://blog.example/?p=2",
                 id="theme post with read more"),
    pytest.param('<div class="post"><p>{link}</p><a href="/2024/05/0{n}/slug/"><time>May {n}</time></a>'
                 '</div>', "https://blog.example/2024/05/02/slug", id="time inside link"),
    pytest.param('<div class="entry"><p>{link}</p><p>Filed in <a href="/category/x/">x</a>. '
                 '<a href="/2023/1{n}/a-post/">Posted</a></p></div>', "https://blog.example/2023/12/a-post",
                 id="date-shaped path"),
    pytest.param('<li><p>{link}</p><a href="/status/{n}">permalink</a></li>', "https://blog.example/status/2",
                 id="plain list items"),
    pytest.param('<article class="h-entry"><div class="p-author h-card"><a class="u-url" href="/">Me</a></div>'
                 '<p>{link}</p><a class="u-url" href="/n/{n}">link</a></article>', "https://blog.example/n/2",
                 id="author card u-url skipped"),
])
def test_entry_permalinks(entry: str, expected: str) -> None:
    result = analyse(listing(entry), LISTING, TARGET)
    assert result.verified and result.in_entry and result.listing
    assert result.permalink.rstrip("/") == expected.rstrip("/")


def test_entry_title_and_blurb_come_from_the_entry() -> None:
    entry = ('<article class="h-entry"><h2 class="p-name"><a class="u-url" href="/e{n}">Entry {n}</a></h2>'
             '<p>Text of entry {n}: {link}.</p></article>')
    result = analyse(listing(entry), LISTING, TARGET)
    assert result.title == "Entry 2"
    assert "Text of entry 2: this." in result.blurb and "entry 1" not in result.blurb


def test_a_permalink_on_another_site_is_never_taken() -> None:
    entry = '<article class="h-entry"><p>{link}</p><a class="u-url" href="https://victim.example/{n}">x</a></article>'
    result = analyse(listing(entry), LISTING, TARGET)
    assert result.permalink == LISTING
    assert not result.listing


def test_an_upload_with_a_date_shaped_path_is_no_permalink() -> None:
    # WordPress stores uploads under /wp-content/uploads/2024/05/: a date, but a file.
    entry = ('<div class="entry"><p>{link}</p><a href="/wp-content/uploads/2024/05/photo-{n}.jpg">photo</a> '
             '<a href="/files/2024/05/report-{n}.pdf">report</a> <a href="/2024/05/0{n}/a-post/">Posted</a></div>')
    result = analyse(listing(entry), LISTING, TARGET)
    assert result.permalink == "https://blog.example/2024/05/02/a-post/"
    only_files = entry.replace('<a href="/2024/05/0{n}/a-post/">Posted</a>', "")
    result = analyse(listing(only_files), LISTING, TARGET)
    assert result.permalink == LISTING and not result.listing


def test_a_single_post_uses_its_canonical_url_on_the_same_site() -> None:
    html = ('<html><head><link rel="canonical" href="https://blog.example/2024/05/hello/"></head><body>'
            '<article><h1>Hello</h1><p>%s</p></article></body></html>' % LINK)
    result = analyse(html, "https://blog.example/?p=12&utm_source=x", TARGET)
    assert result.permalink == "https://blog.example/2024/05/hello/" and not result.listing
    off_site = html.replace("https://blog.example/2024/05/hello/", "https://evil.example/")
    assert analyse(off_site, "https://blog.example/post", TARGET).permalink == "https://blog.example/post"
    og = ('<html><head><meta property="og:url" content="/2024/05/og/"></head><body><p>%s</p></body></html>' % LINK)
    assert analyse(og, "https://blog.example/x", TARGET).permalink == "https://blog.example/2024/05/og/"


def test_a_listing_with_one_entry_is_told_by_its_permalink() -> None:
    html = ('<html><body><h1>Tag: python</h1><article class="hentry"><h2><a rel="bookmark" href="/only-post.html">'
            'Only</a></h2><p>%s</p></article></body></html>' % LINK)
    result = analyse(html, "https://blog.example/tag/python.html", TARGET)
    assert result.listing and result.permalink == "https://blog.example/only-post.html"


def test_a_single_post_heading_linking_to_itself_is_not_a_listing() -> None:
    html = ('<html><body><article><h1><a rel="bookmark" href="/post/">Post</a></h1><p>%s</p>'
            '<p>Earlier: <a href="/2020/01/older/">older post</a></p></article></body></html>' % LINK)
    result = analyse(html, "https://blog.example/post/", TARGET)
    assert not result.listing and result.permalink == "https://blog.example/post/"


def test_a_single_post_that_names_itself_is_not_a_listing_whatever_it_shows_beside() -> None:
    # WordPress single posts show "related posts" as more <article class="post">: the page
    # looks like a listing, but the entry's own bookmark names the page itself.
    related = "".join('<article class="post"><h3><a href="/2019/0%d/other-%d/">Other %d</a></h3></article>' % (n, n, n)
                      for n in range(1, 4))
    html = ('<html><body><article class="post hentry"><h1 class="entry-title"><a rel="bookmark" href="/2019/08/this/">'
            'This</a></h1><p>%s</p><p><a href="/2019/07/15/older/">An older post</a>, '
            '<a href="/2019/08/this/trackback/">Trackback</a></p></article>%s</body></html>' % (LINK, related))
    result = analyse(html, "https://blog.example/2019/08/this/", TARGET)
    assert not result.listing and result.permalink == "https://blog.example/2019/08/this/"
    assert result.title == "This"


def test_a_link_in_a_comment_belongs_to_the_post() -> None:
    html = ('<html><body><article class="h-entry"><h1 class="p-name">Post</h1><p>Body</p>'
            '<div class="comments"><div class="comment h-cite" id="comment-5"><p>%s</p>'
            '<a class="u-url" href="/post/#comment-5">#</a></div></div></article></body></html>' % LINK)
    result = analyse(html, "https://blog.example/post/", TARGET)
    assert result.permalink == "https://blog.example/post/" and result.title == "Post"


def test_a_link_outside_any_entry_keeps_the_page() -> None:
    entry = '<article class="h-entry"><a class="u-url" href="/e{n}">e</a><p>text</p></article>'
    html = listing(entry).replace("</body>", "<aside><h3>Blogroll</h3>%s</aside></body>" % LINK)
    result = analyse(html, LISTING, TARGET)
    assert result.verified and not result.in_entry and result.permalink == LISTING


def test_broken_nesting_of_articles_still_finds_each_entry() -> None:
    # An unclosed <div> makes libxml2 nest every following <article> in the previous one.
    entry = ('<article class="post"><header><div class="meta"><h1><a href="/a{n}" rel="bookmark">A{n}</a></h1>'
             '</header><div class="entry-content"><p>{link}</p></div></article>')
    result = analyse(listing(entry), LISTING, TARGET)
    assert result.permalink == "https://blog.example/a2"


def _accuracy_module() -> object:
    path = Path(__file__).resolve().parent.parent / "scripts" / "permalink_accuracy.py"
    spec = importlib.util.spec_from_file_location("permalink_accuracy", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_permalink_accuracy_on_the_corpus_is_at_least_95_percent(corpus: Path) -> None:
    module = _accuracy_module()
    rows = module.measure(corpus)  # type: ignore[attr-defined]
    checked = sum(r.checked for r in rows)
    correct = sum(r.correct for r in rows)
    assert checked > 300
    assert correct / checked >= 0.95, module.table(rows)  # type: ignore[attr-defined]
