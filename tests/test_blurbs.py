"""Blurbs of links in an entry's content: the text around the link, not the entry's title and byline."""

from __future__ import annotations

import pytest

from linkback.blurbs import entry_content, make_blurb
from linkback.extract import analyse, parse_html

TARGET = "https://example.com/post"
LINK = '<a href="https://example.com/post">Hello, linkback</a>'
SENTENCE = ("I finally added backlinks to my own site after reading %s, which explains how to show who "
            "links to each page without any third-party service." % LINK)


def page(body: str, head: str = "") -> str:
    return "<!doctype html><html><head>%s</head><body>%s</body></html>" % (head, body)


def entry(content: str, *, wrapper: str = "e-content", title: str = "Backlinks at last") -> str:
    """An h-entry as blog themes write it: title, byline, then the content."""
    inner = content if wrapper is None else '<div class="%s">%s</div>' % (wrapper, content)
    return (
        '<article class="h-entry post"><h2 class="p-name entry-title"><a class="u-url" rel="bookmark" '
        'href="/2026/11/backlinks-at-last.html">%s</a></h2><p class="meta">by <a class="p-author h-card" '
        'href="/">Alice</a> <time class="dt-published" datetime="2026-11-01T09:00:00Z">2026/11</time></p>'
        "%s</article>" % (title, inner)
    )


def other(title: str) -> str:
    return entry("<p>Five books for long evenings, and a note on each of them.</p>", title=title)


@pytest.mark.parametrize("html,url", [
    pytest.param(page(other("Tea and tables") + entry("<p>%s</p>" % SENTENCE) + other("Autumn reading")),
                 "https://alice.example/", id="front page"),
    pytest.param(page("<main>%s</main>" % entry("<p>%s</p>" % SENTENCE)),
                 "https://alice.example/2026/11/backlinks-at-last.html", id="the post itself"),
    pytest.param(page(entry("<p>%s</p>" % SENTENCE, wrapper="entry-content")),
                 "https://alice.example/a", id="WordPress entry-content"),
    pytest.param(page(entry('<div itemprop="articleBody"><p>%s</p></div>' % SENTENCE, wrapper=None)),
                 "https://alice.example/a", id="schema.org articleBody"),
    pytest.param(page(entry("<p>%s</p>" % SENTENCE, wrapper=None)),
                 "https://alice.example/a", id="paragraph in the article, no wrapper"),
])
def test_a_link_in_the_content_gets_the_content_around_it(html: str, url: str) -> None:
    result = analyse(html, url, TARGET)
    assert result.title == "Backlinks at last"
    assert result.blurb.startswith("I finally added backlinks to my own site after reading Hello, linkback")
    assert result.blurb.endswith("without any third-party service.")
    assert "Alice" not in result.blurb and "2026" not in result.blurb
    assert result.blurb[result.blurb_start:result.blurb_end] == "Hello, linkback"


def test_long_content_is_cut_at_words_around_the_link() -> None:
    before = " ".join("earlier%d" % i for i in range(80))
    after = " ".join("later%d" % i for i in range(80))
    html = page(entry("<p>%s</p><p>%s %s %s</p><p>%s</p>" % (before, before, LINK, after, after)))
    result = analyse(html, "https://alice.example/", TARGET)
    blurb = result.blurb
    assert 200 <= len(blurb) <= 252
    assert blurb.startswith("…earlier") and blurb.endswith("…")
    assert blurb[result.blurb_start:result.blurb_end] == "Hello, linkback"
    assert all(word.startswith(("earlier", "later")) for word in blurb.strip("…").replace(
        "Hello, linkback", "").split())


def test_short_content_falls_back_to_the_whole_entry() -> None:
    html = page(entry("<p>Via %s</p>" % LINK, title="A bookmark"))
    result = analyse(html, "https://alice.example/", TARGET)
    assert result.blurb == "A bookmark by Alice 2026/11 Via Hello, linkback"


def test_a_link_in_the_byline_is_not_content() -> None:
    html = page('<article class="h-entry"><h2 class="p-name">Notes</h2><p class="byline">by '
                '<a class="p-author h-card" href="https://example.com/post">Bob</a></p>'
                '<div class="e-content"><p>%s</p></div></article>' % ("Words of the note. " * 3))
    result = analyse(html, "https://bob.example/", TARGET)
    assert result.blurb.startswith("Notes by Bob")


def test_byline_inside_the_content_is_left_out() -> None:
    # Pelican's theme puts the post's footer (date, author, category) inside entry-content.
    html = page('<article><header><h1 class="entry-title">Post</h1></header><div class="entry-content">'
                '<footer class="post-info"><abbr class="published">Published: Wed 20 April 2011</abbr>'
                '<address class="vcard author">By <a class="url fn" href="/me">Alexis</a></address></footer>'
                "<p>%s</p></div></article>" % SENTENCE)
    result = analyse(html, "https://blog.example/post.html", TARGET)
    assert result.blurb.startswith("I finally added backlinks")
    assert "Published" not in result.blurb and "Alexis" not in result.blurb


def test_tags_and_dates_inside_a_sentence_stay() -> None:
    html = page(entry('<p>Did you play at <a class="p-category" href="/tag/conf">#conf</a> on '
                      '<time class="dt-updated">Monday</time>? Read %s for the whole story of how we '
                      "built it.</p>" % LINK))
    result = analyse(html, "https://alice.example/", TARGET)
    assert result.blurb == ("Did you play at #conf on Monday? Read Hello, linkback for the whole story of how we "
                            "built it.")


def test_a_link_in_a_comment_gets_the_comment_text() -> None:
    html = page(entry("<p>%s</p>" % ("The post itself. " * 10)) +
                '<div class="comments"><div class="h-cite u-comment"><a class="p-author h-card" href="/c">Carol</a>'
                '<div class="e-content"><p>Great post! See also %s for more on how the counting is done, and why it stays private.'
                "</p></div></div></div>" % LINK)
    result = analyse(html, "https://alice.example/2026/11/backlinks-at-last.html", TARGET)
    assert result.blurb == ("Great post! See also Hello, linkback for more on how the counting is done, and why "
                            "it stays private.")


def test_outside_an_entry_the_blurb_grows_as_before() -> None:
    html = page("<aside><h3>Blogroll</h3><ul><li>%s</li><li>%s</li></ul></aside>"
                % (LINK, "<a href='/x'>Another blog with a name</a>"))
    result = analyse(html, "https://alice.example/", TARGET)
    assert result.blurb == "Blogroll Hello, linkback Another blog with a name"


def test_entry_content_reports_the_scope_and_what_it_leaves_out() -> None:
    tree = parse_html(page(entry("<p>%s</p>" % SENTENCE, wrapper=None)))
    link = next(a for a in tree.iter("a") if a.get("href") == TARGET)
    article = tree.find(".//article")
    scope, furniture = entry_content(link, article)
    assert scope is article
    assert {el.tag for el in furniture} == {"h2", "p"}  # the title and the byline
    assert entry_content(tree.find(".//a[@class='p-author h-card']"), article) is None
    assert make_blurb(link, article)[0].startswith("I finally added")


PROSE = "<p>%s</p>" % ("A long paragraph about something else entirely, " * 8)


def test_a_blurb_stays_in_the_section_that_holds_the_link() -> None:
    # A blogroll in its own section, between the post and the page's footer: neither the
    # post's text nor the footer's is about the link.
    html = page(PROSE + '<section id="extras"><div class="blogroll"><h2>links</h2><ul><li>%s</li>'
                '<li><a href="/b">Biologeek</a></li></ul></div></section>' % LINK +
                "<footer><p>Proudly powered by a static site generator.</p></footer>")
    result = analyse(html, "https://alice.example/", TARGET)
    assert result.blurb == "links Hello, linkback Biologeek"


def test_the_page_footer_is_a_section_an_entry_footer_is_not() -> None:
    in_page_footer = page(PROSE + "<footer><p>Built with %s.</p></footer>" % LINK)
    assert analyse(in_page_footer, "https://alice.example/", TARGET).blurb == "Built with Hello, linkback."
    # In an article the footer's neighbour is the text it closes: the blurb grows into it.
    in_entry_footer = page("<div id='page'><article>%s<footer>Filed under %s</footer></article></div>"
                           % (PROSE, LINK))
    blurb = analyse(in_entry_footer, "https://alice.example/", TARGET).blurb
    assert blurb.endswith("something else entirely, Filed under Hello, linkback")
    assert blurb.startswith("…")
