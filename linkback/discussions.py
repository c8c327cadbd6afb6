"""Discussion pages of link aggregators: Hacker News, Reddit, Lobsters, Tildes, Lemmy.

A visitor from an aggregator comes from a discussion of our page (the modern "Digg This"):
the linkback is then a *discussion*, shown with its points and comment count. A plain link
from an aggregator's list page (a front page, ``/newest``, a subreddit) resolves to the
discussion page of the story that holds the link, when the list shows one.

Each reader takes the parsed page, its URL and the link element (``None`` when the page
does not link to us) and returns a :class:`Discussion` or ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import dom

_NUMBER = r"(\d[\d,.]*k?)"
_POINTS = re.compile(_NUMBER + r"\s*(?:points?|votes?|upvotes?)\b", re.I)
_COMMENTS = re.compile(_NUMBER + r"\s*(?:comments?|replies)\b", re.I)


@dataclass
class Discussion:
    url: str | None
    title: str | None = None
    points: int | None = None
    comments: int | None = None


def number(text: str | None) -> int | None:
    """``"1,234"`` → 1234, ``"43.2k"`` → 43200; ``None`` when it is no number."""
    if not text:
        return None
    text = text.strip().lower().replace(",", "")
    try:
        if text.endswith("k"):
            return int(float(text[:-1]) * 1000)
        return int(float(text))
    except ValueError:
        return None


def _search(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    return number(match.group(1)) if match else None


def _text(el: Any | None) -> str:
    return " ".join(dom.text(el).split()) if el is not None else ""


def _with_class(root: Any, tag: str, token: str) -> list[Any]:
    found = []
    for el in root.iter(tag):
        value = el.get("class")
        if value and token in value and token in value.split():
            found.append(el)
    return found


# --- Hacker News -------------------------------------------------------------------------------

_HN = "https://news.ycombinator.com/item?id=%s"


def _hn_subtext(row: Any) -> tuple[int | None, int | None]:
    """Points and comments from the subtext row after a story row."""
    following = row.getnext()
    while following is not None and not isinstance(following.tag, str):
        following = following.getnext()
    if following is None:
        return None, None
    subtext = _text(following)
    points = _search(_POINTS, subtext)
    comments = _search(_COMMENTS, subtext)
    if comments is None and re.search(r"\bdiscuss\b", subtext):
        comments = 0
    return points, comments


def _hn_title(row: Any) -> str | None:
    for cell in row.iter("td", "span"):
        tokens = dom.classes(cell)
        if "titleline" in tokens or ("title" in tokens and cell.find(".//span[@class='rank']") is None):
            for a in cell.iter("a"):
                text = _text(a)
                if text:
                    return text
    return None


def _hacker_news(tree: Any, page_url: str, link: Any | None) -> Discussion | None:
    parts = urlsplit(page_url)
    if parts.path == "/item":
        ident = (parse_qs(parts.query).get("id") or [""])[0]
        if not ident.isdigit():
            return None
        story = None
        for row in tree.iter("tr"):
            value = row.get("class")
            if value and "athing" in value and "athing" in value.split() and "comtr" not in value.split():
                story = row
                break
        if story is None:  # older markup: the first row with a title cell
            for cell in tree.iter("td"):
                if "title" in dom.classes(cell) and cell.find("a") is not None:
                    story = cell.getparent()
                    break
        title = _hn_title(story) if story is not None else None
        points, comments = _hn_subtext(story) if story is not None else (None, None)
        if comments is None:
            rows = _with_class(tree, "tr", "comtr")
            comments = len(rows) if rows else None
        return Discussion(_HN % ident, title, points, comments)
    if link is None:
        return None
    # A list page: the story row holding the link, its id, and the subtext under it.
    for row in dom.ancestors(link):
        if row.tag != "tr":
            continue
        ident = row.get("id") if (row.get("id") or "").isdigit() else None
        if ident is None:
            following = row.getnext()
            for a in following.iter("a") if following is not None else ():
                match = re.search(r"item\?id=(\d+)", a.get("href") or "")
                if match:
                    ident = match.group(1)
                    break
        if ident is None:
            continue
        points, comments = _hn_subtext(row)
        return Discussion(_HN % ident, _hn_title(row) or _text(link) or None, points, comments)
    return None


# --- Reddit ------------------------------------------------------------------------------------

# Candidates found in C (these pages are large); the class tokens are checked in Python.
_LINKINFO = dom.xpath("//div[contains(@class, 'linkinfo')]")
_COMMENT_LINKS = dom.xpath("//a[contains(@class, 'comments') or contains(@class, 'bylink')]")
_COMMENT_SPANS = dom.xpath("//span[contains(., 'comment')]")
_REDDIT_POST = re.compile(r"^/r/([^/]+)/comments/([a-z0-9]+)(?:/([^/?#]*))?", re.I)


def _reddit(tree: Any, page_url: str, link: Any | None) -> Discussion | None:
    match = _REDDIT_POST.match(urlsplit(page_url).path)
    if match:
        sub, ident, slug = match.groups()
        url = "https://www.reddit.com/r/%s/comments/%s/%s" % (sub, ident, (slug + "/") if slug else "")
        title = dom.meta_content(tree, "og:title")
        points = comments = None
        # The post: new Reddit's <shreddit-post>, or old Reddit's first div.thing.link. It
        # comes before the comments, so the walk stops early on these large pages.
        for post in tree.iter("shreddit-post", "div"):
            if post.tag == "shreddit-post":
                title = title or post.get("post-title")
                points = number(post.get("score"))
                comments = number(post.get("comment-count"))
                break
            value = post.get("class")
            if value and "thing" in value and "link" in value.split() and "thing" in value.split():
                points = number(post.get("data-score"))
                comments = number(post.get("data-comments-count"))
                if title is None:
                    anchors = _with_class(post, "a", "title")
                    title = _text(anchors[0]) if anchors else None
                break
        if points is None:
            for info in _LINKINFO(tree):
                if "linkinfo" in info.get("class").split():
                    points = _search(_POINTS, _text(info))
        if comments is None:
            for a in _COMMENT_LINKS(tree):
                value = a.get("class").split()
                if "comments" in value or "bylink" in value:
                    comments = _search(_COMMENTS, _text(a))
                    if comments is not None:
                        break
        if comments is None:
            texts = (" ".join(dom.text(span).split()) for span in _COMMENT_SPANS(tree))
            comments = _search(_COMMENTS, " ".join(text for text in texts if "comment" in text[:20]))
        if title:  # "Title • r/aww", "r/Python - Title": the subreddit is not the title
            title = re.sub(r"\s+[•:|–-]\s+r/\w+$", "", title)
            title = re.sub(r"^r/\w+\s+[•:|–-]\s+", "", title)
        return Discussion(url, title, points, comments)
    if link is None:
        return None
    for el in dom.ancestors(link):
        permalink = el.get("data-permalink") or el.get("permalink")
        if permalink and _REDDIT_POST.match(permalink):
            return Discussion(
                "https://www.reddit.com" + permalink,
                el.get("post-title") or _text(link) or None,
                number(el.get("data-score") or el.get("score")),
                number(el.get("data-comments-count") or el.get("comment-count")),
            )
    return None


# --- Lobsters, Tildes, Lemmy ---------------------------------------------------------------------


def _lobsters(tree: Any, page_url: str, link: Any | None) -> Discussion | None:
    match = re.match(r"^/s/([a-z0-9]+)", urlsplit(page_url).path)
    if match:
        story = next(iter(_with_class(tree, "div", "story") + _with_class(tree, "li", "story")), None)
        return _lobsters_story(story, "https://lobste.rs/s/%s" % match.group(1), tree)
    if link is None:
        return None
    for el in dom.ancestors(link):
        if "story" in dom.classes(el) and el.get("data-shortid"):
            return _lobsters_story(el, "https://lobste.rs/s/%s" % el.get("data-shortid"), el)
    return None


def _lobsters_story(story: Any | None, url: str, scope: Any) -> Discussion:
    title = None
    if story is not None:
        for a in story.iter("a"):
            if "u-url" in dom.classes(a) or "link" in dom.classes(a.getparent()):
                title = _text(a)
                break
    title = title or dom.meta_content(scope, "og:title")
    points = None
    for el in (story if story is not None else scope).iter("div", "a", "span"):
        if "score" in dom.classes(el):
            points = number(_text(el))
            break
    comments = None
    for el in (story if story is not None else scope).iter("a", "span"):
        if "comments_label" in dom.classes(el) or "comments_label" in dom.classes(el.getparent()):
            comments = _search(_COMMENTS, _text(el))
            if comments is None and "no comments" in _text(el).lower():
                comments = 0
            break
    return Discussion(url, title, points, comments)


def _generic(site: str, pattern: str) -> Callable[[Any, str, Any | None], Discussion | None]:
    """Aggregators whose discussion pages have a recognisable path and show counts as text."""

    def read(tree: Any, page_url: str, link: Any | None) -> Discussion | None:
        parts = urlsplit(page_url)
        if not re.match(pattern, parts.path):
            return None
        text = _text(tree.find("body")) if tree.find("body") is not None else ""
        head = text[:5000]
        return Discussion(
            "%s://%s%s" % (parts.scheme, parts.netloc, parts.path),
            dom.meta_content(tree, "og:title") or _text(tree.find(".//h1")) or None,
            _search(_POINTS, head),
            _search(_COMMENTS, head),
        )

    read.__name__ = site
    return read


#: Aggregator readers by host (subdomains match too).
READERS: dict[str, Callable[[Any, str, Any | None], Discussion | None]] = {
    "news.ycombinator.com": _hacker_news,
    "reddit.com": _reddit,
    "lobste.rs": _lobsters,
    "tildes.net": _generic("tildes", r"^/~[\w.]+/[a-z0-9]+"),
    "lemmy.world": _generic("lemmy", r"^/post/\d+"),
    "lemmy.ml": _generic("lemmy", r"^/post/\d+"),
    "slashdot.org": _generic("slashdot", r"^/story/"),
}


def find_discussion(tree: Any, page_url: str, link: Any | None) -> Discussion | None:
    """The discussion ``page_url`` is (or the list entry ``link`` sits in), else ``None``."""
    host = dom.host(page_url)
    if not host.endswith(tuple(READERS)):  # most pages: one test
        return None
    for domain, reader in READERS.items():
        if host == domain or host.endswith("." + domain):
            return reader(tree, page_url, link)
    return None
