"""Two views: the list of posts and one post with its linkbacks block."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

#: slug → (title, paragraphs).
POSTS: dict[str, tuple[str, list[str]]] = {
    "hello-linkback": ("Hello from Django", ["One template tag shows who links to this page."]),
    "second-post": ("A second post", ["Each post has its own linkbacks."]),
}


def index(request: HttpRequest) -> HttpResponse:
    return render(request, "index.html", {"posts": POSTS})


def post(request: HttpRequest, slug: str) -> HttpResponse:
    if slug not in POSTS:
        raise Http404("no such post")
    title, paragraphs = POSTS[slug]
    return render(request, "post.html", {"title": title, "paragraphs": paragraphs})
