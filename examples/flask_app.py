"""An example blog in Flask with a linkbacks block under each post, beside the comments.

URLs (kept stable: tests and the demo use them):

* ``/`` — the posts, newest first, with their discussion badges.
* ``/posts/<slug>`` — one post (slugs in :data:`POSTS`), then "Who links here", then comments.
* ``/.linkback/…`` — served by the middleware (stylesheet, JSON API, script, admin, protocols).

Run it::

    python examples/flask_app.py                     # http://127.0.0.1:5000/
    python examples/sample_data.py linkback.db http://127.0.0.1:5000   # some linkbacks to show

or build it in code, as tests do::

    from examples.flask_app import create_app
    app = create_app("site.db", crawl=False)
    middleware = app.extensions["linkback"]
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, abort, render_template
from jinja2 import DictLoader

from linkback.contrib.flask import Linkback

#: slug → (title, date, paragraphs, comments as (author, text)).
POSTS: dict[str, tuple[str, str, list[str], list[tuple[str, str]]]] = {
    "hello-linkback": (
        "Hello, linkback",
        "2026-11-10",
        [
            "This blog shows, under every post, the pages that link to it. Nobody has to send "
            "a notification and no third party is involved: the server reads where each "
            "visitor came from, and a background crawler checks that the page really links "
            "here before it is shown.",
            "The block below is one line in the template. Titles, blurbs and authors come from "
            "the linking pages themselves, escaped and trimmed, with the linking words "
            "highlighted.",
        ],
        [
            ("Maya", "Finally a way to find the people who wrote about my posts."),
            ("Tom", "Does it work on static pages too? — Yes, see the post about static pages."),
        ],
    ),
    "static-pages": (
        "Backlinks for static pages",
        "2026-11-03",
        [
            "Pages served from disk by nginx or a CDN cannot run Python. A small script loads "
            "the same block from a JSON API once the page has rendered, and reports the "
            "referrer to a beacon, so those visits count exactly like the others.",
        ],
        [("Ravi", "Zero impact on loading time is the part I care about.")],
    ),
    "privacy": (
        "Counting visitors, keeping no visitor",
        "2026-10-21",
        [
            "Visitors are told apart by a keyed hash of their address and browser under a salt "
            "that changes every day and is then deleted. Nothing that identifies a reader is "
            "ever stored.",
        ],
        [],
    ),
    "quiet-post": (
        "A post nobody has linked to yet",
        "2026-10-02",
        ["Not every post gets links. This one shows how the page looks without any."],
        [],
    ),
}

TEMPLATES = {
    "base.html": """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{% block title %}{% endblock %} · Field Notes</title>
<style>
  :root { --text: #1f2328; --muted: #59636e; --accent: #0b6bcb; --bg: #fdfdfc; --rule: #e6e4df; }
  @media (prefers-color-scheme: dark) {
    :root { --text: #e6e3dc; --muted: #a39f97; --accent: #7fb6ff; --bg: #17181b; --rule: #2e3035; }
  }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--bg); color: var(--text);
         font: 18px/1.65 Charter, "Bitstream Charter", "Sitka Text", Cambria, Georgia, serif; }
  a { color: var(--accent); }
  .wrap { max-width: 44rem; margin: 0 auto; padding: 0 1.25rem; }
  header.site { border-bottom: 1px solid var(--rule); margin-bottom: 2.5rem; }
  header.site .wrap { display: flex; align-items: baseline; justify-content: space-between;
                      padding-top: 1.2rem; padding-bottom: 1rem; }
  header.site a { color: inherit; text-decoration: none; }
  .brand { font: 700 1.2rem/1 system-ui, sans-serif; letter-spacing: -0.01em; }
  nav a { font: 0.95rem system-ui, sans-serif; color: var(--muted); margin-left: 1rem; }
  h1, h2, h3 { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; line-height: 1.2;
               letter-spacing: -0.015em; }
  h1 { font-size: 2.1rem; margin: 0 0 0.4rem; }
  .date { color: var(--muted); font: 0.9rem system-ui, sans-serif; }
  article p { margin: 1.1rem 0; }
  .responses { margin-top: 3rem; }
  .comments h2 { font-size: 1.1rem; }
  .comment { border-left: 3px solid var(--rule); padding: 0.1rem 0 0.1rem 1rem; margin: 1rem 0; }
  .comment b { font-family: system-ui, sans-serif; font-size: 0.9rem; }
  .comment p { margin: 0.2rem 0 0; }
  .comments form textarea { width: 100%; min-height: 5rem; font: inherit; padding: 0.6rem;
                            border: 1px solid var(--rule); border-radius: 8px;
                            background: transparent; color: inherit; }
  .posts { list-style: none; padding: 0; margin: 0; }
  .posts li { padding: 1.2rem 0; border-bottom: 1px solid var(--rule); }
  .posts h2 { font-size: 1.35rem; margin: 0 0 0.2rem; }
  .posts h2 a { color: inherit; text-decoration: none; }
  .posts p { margin: 0.4rem 0; color: var(--muted); }
  footer { margin: 4rem 0 2rem; color: var(--muted); font: 0.85rem system-ui, sans-serif; }
</style>
</head>
<body>
<header class="site"><div class="wrap">
  <a class="brand" href="{{ url_for('index') }}">Field Notes</a>
  <nav><a href="{{ url_for('index') }}">Posts</a><a href="/.linkback/admin/">Linkbacks</a></nav>
</div></header>
<main class="wrap">{% block main %}{% endblock %}</main>
<footer class="wrap">An example blog for linkback.</footer>
</body>
</html>""",
    "index.html": """{% extends "base.html" %}
{% block title %}Posts{% endblock %}
{% block main %}
<ul class="posts">
{% for slug, post in posts.items() %}
  <li>
    <h2><a href="{{ url_for('post', slug=slug) }}">{{ post[0] }}</a></h2>
    <div class="date">{{ post[1] }}</div>
    <p>{{ post[2][0]|truncate(160) }}</p>
    {{ linkback_discussions(url_for('post', slug=slug, _external=True)) }}
  </li>
{% endfor %}
</ul>
{% endblock %}""",
    "post.html": """{% extends "base.html" %}
{% block title %}{{ title }}{% endblock %}
{% block main %}
<article>
  <h1>{{ title }}</h1>
  <div class="date">{{ date }}</div>
  {% for paragraph in paragraphs %}<p>{{ paragraph }}</p>{% endfor %}
</article>
<div class="responses">
  {{ linkbacks() }}
  <section class="comments">
    <h2>Comments</h2>
    {% for author, text in comments %}
    <div class="comment"><b>{{ author }}</b><p>{{ text }}</p></div>
    {% else %}
    <p class="date">No comments yet.</p>
    {% endfor %}
    <form><textarea placeholder="Leave a comment" aria-label="Comment"></textarea></form>
  </section>
</div>
{% endblock %}""",
}


def create_app(database: str | os.PathLike[str] = "linkback.db", **linkback_options: Any) -> Flask:
    """The example blog, wrapped by :class:`linkback.contrib.flask.Linkback`.

    :param database: the linkback database.
    :param linkback_options: middleware options; ``sites`` defaults to
        ``["localhost", "127.0.0.1"]`` so the blog works where it runs.
    """
    app = Flask(__name__)
    app.jinja_loader = DictLoader(TEMPLATES)  # type: ignore[assignment]
    linkback_options.setdefault("sites", ["localhost", "127.0.0.1"])

    @app.route("/")
    def index() -> str:
        return render_template("index.html", posts=POSTS)

    @app.route("/posts/<slug>")
    def post(slug: str) -> str:
        if slug not in POSTS:
            abort(404)
        title, date, paragraphs, comments = POSTS[slug]
        return render_template(
            "post.html", title=title, date=date, paragraphs=paragraphs, comments=comments
        )

    Linkback(app, database=os.fspath(database), **linkback_options)
    return app


if __name__ == "__main__":
    create_app(os.environ.get("LINKBACK_DB", "linkback.db")).run(port=5000)
