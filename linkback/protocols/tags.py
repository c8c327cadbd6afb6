"""Template helpers: the ``<link>`` tags and the Trackback RDF block of a page.

The middleware already advertises Webmention and Pingback in each HTML response's headers;
these tags say the same in the document (for caches and static copies that lose headers),
and the RDF block is how Trackback clients (Movable Type, WordPress) find a ping URL.

In a Jinja2 template::

    <head>{{ protocol_tags(request.url, title=post.title) }}</head>
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from markupsafe import Markup, escape

from ..config import DEFAULT_PREFIX

#: Longest title written into the RDF block, in characters (truncated before escaping).
MAX_RDF_TITLE = 200


def _origin(page_url: str) -> tuple[str, str, str, str]:
    parts = urlsplit(page_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("page_url must be an absolute http(s) URL, got %r" % (page_url,))
    return parts.scheme, parts.netloc, parts.path or "/", parts.query


def endpoint_url(
    page_url: str, endpoint: str, *, prefix: str = DEFAULT_PREFIX, script_name: str = ""
) -> str:
    """The URL of one of our endpoints (``webmention``, ``xmlrpc``) on ``page_url``'s host."""
    scheme, netloc, _path, _query = _origin(page_url)
    return urlunsplit((scheme, netloc, script_name.rstrip("/") + prefix + endpoint, "", ""))


def trackback_url(page_url: str, *, prefix: str = DEFAULT_PREFIX, script_name: str = "") -> str:
    """The Trackback ping URL of ``page_url``: its path under ``{prefix}trackback``.

    :param script_name: where the application is mounted, if not at the root.

    >>> trackback_url("https://example.com/blog/post?id=3")
    'https://example.com/.linkback/trackback/blog/post?id=3'
    """
    scheme, netloc, path, query = _origin(page_url)
    script = script_name.rstrip("/")
    if script and path.startswith(script + "/"):
        path = path[len(script) :]
    return urlunsplit((scheme, netloc, script + prefix + "trackback" + path, query, ""))


def link_tags(page_url: str, *, prefix: str = DEFAULT_PREFIX, script_name: str = "") -> Markup:
    """``<link rel="webmention">`` and ``<link rel="pingback">`` for a page's ``<head>``.

    >>> print(link_tags("https://example.com/post"))
    <link rel="webmention" href="https://example.com/.linkback/webmention">
    <link rel="pingback" href="https://example.com/.linkback/xmlrpc">
    """
    webmention = endpoint_url(page_url, "webmention", prefix=prefix, script_name=script_name)
    pingback = endpoint_url(page_url, "xmlrpc", prefix=prefix, script_name=script_name)
    return Markup('<link rel="webmention" href="%s">\n<link rel="pingback" href="%s">') % (
        webmention,
        pingback,
    )


def _rdf_attr(value: str) -> str:
    # XML-escaped for the RDF parser, and no "--": the block sits inside an HTML comment,
    # which a "--" would break (and a "-->" would end, letting markup out).
    return re.sub("-(?=-)", "&#45;", str(escape(value)))


def trackback_rdf(
    page_url: str, title: str | None = None, *, prefix: str = DEFAULT_PREFIX, script_name: str = ""
) -> Markup:
    """The Trackback autodiscovery RDF block of a page, inside an HTML comment.

    :param title: the page's title; cut to :data:`MAX_RDF_TITLE` characters before escaping.
    """
    ping = trackback_url(page_url, prefix=prefix, script_name=script_name)
    title = (title or "").strip()
    if len(title) > MAX_RDF_TITLE:
        title = title[: MAX_RDF_TITLE - 1] + "…"
    return Markup(
        '<!--\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"\n'
        '         xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '         xmlns:trackback="http://madskills.com/public/xml/rss/module/trackback/">\n'
        '<rdf:Description rdf:about="%s"\n    dc:identifier="%s"\n    dc:title="%s"\n'
        '    trackback:ping="%s" />\n</rdf:RDF>\n-->'
        % (_rdf_attr(page_url), _rdf_attr(page_url), _rdf_attr(title), _rdf_attr(ping))
    )


def protocol_tags(
    page_url: str,
    title: str | None = None,
    *,
    prefix: str = DEFAULT_PREFIX,
    script_name: str = "",
    trackback: bool = True,
) -> Markup:
    """:func:`link_tags` and, with ``trackback``, :func:`trackback_rdf`, together."""
    tags = link_tags(page_url, prefix=prefix, script_name=script_name)
    if trackback:
        tags += Markup("\n") + trackback_rdf(
            page_url, title, prefix=prefix, script_name=script_name
        )
    return tags
