"""The demo's sites: an example blog wrapped in the middleware, and the pages that link to it.

The referring sites are plain pages on other loopback addresses (127.0.0.2 and up), so that
the blog sees them as external: a blog front page listing several entries (the crawler must
find the entry's permalink), a single post, an aggregator-style discussion page, and a page
that does not link at all (a spoofed Referer, which must stay unverified).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Request, Response

#: The example blog's posts: slug → (title, paragraphs).
POSTS: dict[str, tuple[str, list[str]]] = {
    "hello-linkback": (
        "Hello, linkback",
        [
            "This blog is wrapped in LinkbackMiddleware. Every visitor who arrives from another "
            "site's link is counted server-side, without JavaScript and without a third party.",
            "A background crawler then fetches the referring page, checks that it really links "
            "here, and finds the title, a blurb and the author. Scroll down to see who links here.",
        ],
    ),
    "fraud-compensation": (
        "Counting visitors without counting spam",
        [
            "Each linkback's visitors land in hashing bins. A client that replays the same "
            "Referer a thousand times fills one bin, which then counts like any other.",
            "The manager shows the raw hits beside the compensated value, and the share of hits "
            "that were discarded.",
        ],
    ),
    "permalinks": (
        "Permalinks outlive front pages",
        [
            "When a visitor comes from a blog's front page, the entry that links here will "
            "scroll off that page in a week. linkback finds the entry's permalink, so the "
            "linkback stays pointing at the right place.",
        ],
    ),
}

BLOG_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Example blog</title>
<link rel="stylesheet" href="{prefix}linkbacks.css">
<style>
  body {{ font: 17px/1.6 system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem;
         color: #1d2330; background: #fff; }}
  header a {{ color: inherit; text-decoration: none; font-weight: 700; }}
  h1 {{ line-height: 1.2; }}
  nav ul {{ padding-left: 1.2rem; }}
  footer {{ margin-top: 3rem; color: #667; font-size: .9rem; }}
  @media (prefers-color-scheme: dark) {{ body {{ color: #e6e8ee; background: #14171f; }} a {{ color: #8ab4ff; }} }}
</style></head>
<body><header><a href="/">Example blog</a></header>
<main>{body}</main>
<footer>Served through LinkbackMiddleware. <a href="{prefix}admin/">Linkback manager</a></footer>
</body></html>"""


def blog_app(render: Callable[[str], Any] | None, prefix: str = "/.linkback/") -> Callable[..., Any]:
    """The example blog: ``/`` lists the posts, ``/posts/<slug>`` shows one with its linkbacks.

    :param render: renders the linkback block for a page URL (``middleware.render``).
    """

    @Request.application
    def app(request: Request) -> Response:
        if request.path == "/":
            items = "".join(
                '<li><a href="/posts/%s">%s</a></li>' % (slug, html.escape(title))
                for slug, (title, _) in POSTS.items()
            )
            body = "<h1>Example blog</h1><nav><ul>%s</ul></nav>" % items
            title = "Home"
        elif request.path.startswith("/posts/") and request.path[7:] in POSTS:
            title, paragraphs = POSTS[request.path[7:]]
            block = render(request.base_url) if render is not None else ""
            body = "<article><h1>%s</h1>%s</article>%s" % (
                html.escape(title), "".join("<p>%s</p>" % html.escape(p) for p in paragraphs), block
            )
        else:
            raise NotFound()
        page = BLOG_TEMPLATE.format(title=html.escape(title), body=body, prefix=prefix)
        return Response(page, content_type="text/html; charset=utf-8")

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            return app(environ, start_response)
        except NotFound as e:
            return e(environ, start_response)

    return wsgi


@dataclass(frozen=True)
class ReferringSite:
    """One referring site: its name, loopback address and pages (path → HTML)."""

    name: str
    host: str
    pages: dict[str, str]


def _page(title: str, body: str, extra_head: str = "") -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>%s</title>%s</head>'
        "<body>%s</body></html>" % (html.escape(title), extra_head, body)
    )


def referring_sites(blog: str) -> list[ReferringSite]:
    """The referring sites' pages, linking to the blog at base URL ``blog``."""
    alice_entries = [
        ("2026/11/tea-and-tables", "Tea and tables", "<p>Notes from a week of rearranging furniture.</p>"),
        (
            "2026/11/backlinks-at-last",
            "Backlinks at last",
            '<p>I finally added backlinks to my own site after reading '
            '<a href="%s/posts/hello-linkback">Hello, linkback</a>, which explains how to show '
            "who links to each page without any third-party service.</p>" % blog,
        ),
        ("2026/10/autumn-reading", "Autumn reading", "<p>Five books for long evenings.</p>"),
    ]

    def entry(path: str, title: str, content: str, heading: str = "h2") -> str:
        return (
            '<article class="h-entry post"><%s class="p-name entry-title"><a class="u-url" rel="bookmark" '
            'href="/%s.html">%s</a></%s><p class="meta">by <a class="p-author h-card" href="/">Alice</a> '
            '<time class="dt-published" datetime="%s-01T09:00:00Z">%s</time></p>'
            '<div class="e-content">%s</div></article>'
            % (heading, path, html.escape(title), heading, path[:7].replace("/", "-"), path[:7], content)
        )

    alice_pages = {
        "/": _page(
            "Alice's notebook",
            '<header><h1>Alice\'s notebook</h1><nav><a href="/">Home</a> <a href="/about">About</a></nav></header>'
            '<main class="h-feed">%s</main>' % "".join(entry(*e) for e in alice_entries),
        )
    }
    for path, title, content in alice_entries:
        alice_pages["/%s.html" % path] = _page(
            "%s | Alice's notebook" % title, "<main>%s</main>" % entry(path, title, content, "h1"),
            '<link rel="canonical" href="/%s.html">' % path,
        )

    bob_pages = {
        "/posts/backlinks-are-back.html": _page(
            "Backlinks are back – Bob writes",
            '<article class="h-entry"><h1 class="p-name">Backlinks are back</h1>'
            '<p class="meta">Posted by <a rel="author" href="/about">Bob Example</a> on '
            '<time datetime="2026-11-18T18:30:00Z">18 November 2026</time></p>'
            '<div class="e-content"><p>Trackbacks died of spam, but referrers never went away. '
            'The trick is in <a href="%s/posts/permalinks">keeping permalinks</a> instead of '
            "front pages, and in verifying every claim before showing it.</p></div></article>"
            '<aside class="comments"><h2>Comments</h2><p>No comments yet.</p></aside>' % blog,
        ),
        "/posts/unrelated.html": _page(
            "Gardening in November – Bob writes",
            "<article><h1>Gardening in November</h1><p>Nothing here links anywhere.</p></article>",
        ),
    }

    news_pages = {
        "/item/4242": _page(
            "Counting visitors without counting spam | Loopback News",
            '<table class="fatitem"><tr class="athing" id="4242"><td class="title">'
            '<span class="titleline"><a href="%s/posts/fraud-compensation">Counting visitors '
            'without counting spam</a></span></td></tr><tr><td class="subtext">'
            '<span class="score">128 points</span> by <a class="hnuser">carol</a> '
            '<a href="/item/4242">57 comments</a></td></tr></table>'
            '<div class="comment">Hashing bins are a neat trick.</div>' % blog,
        ),
    }
    return [
        ReferringSite("Alice's notebook (a blog front page)", "127.0.0.2", alice_pages),
        ReferringSite("Bob writes (single posts)", "127.0.0.3", bob_pages),
        ReferringSite("Loopback News (a discussion page)", "127.0.0.4", news_pages),
    ]


def site_app(pages: dict[str, str]) -> Callable[..., Any]:
    """Serve a referring site's pages."""

    @Request.application
    def app(request: Request) -> Response:
        page = pages.get(request.path)
        if page is None:
            return Response("not found", status=404)
        return Response(page, content_type="text/html; charset=utf-8")

    return app
