"""The TrackBack 1.2 receiver: ``POST {prefix}trackback/<path of our page>``.

Each of our pages has its own ping URL: the page's path under ``{prefix}trackback``
(``/blog/post?id=3`` pings at ``/.linkback/trackback/blog/post?id=3``). The body is
form-encoded ``url`` (required), ``title``, ``excerpt`` and ``blog_name``; the answer is
``<response><error>0</error></response>``, or ``1`` with a ``<message>``.

The sender's title and excerpt are kept beside the linkback but never shown: what is shown
is what the crawler reads from the source once it has verified the link, as WordPress's
Simple Trackback Validation does.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lxml import etree
from werkzeug.wrappers import Response

from ..filters import request_path
from .receiver import BadRequest, Outcome, Receiver, read_form, single

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

logger = logging.getLogger(__name__)


def answer(
    error: str | None = None, *, status: int = 200, retry_after: int | None = None
) -> Response:
    """The TrackBack response document: success, or error 1 with ``error`` as message."""
    root = etree.Element("response")
    etree.SubElement(root, "error").text = "1" if error else "0"
    if error:
        etree.SubElement(root, "message").text = error
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    response = Response(body, status=status, content_type="text/xml; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    if status == 405:
        response.headers["Allow"] = "POST"
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def target_url(environ: WSGIEnvironment, page_path: str) -> str:
    """The URL of our page that a ping to ``{prefix}trackback/<page_path>`` is about."""
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    path = request_path(environ.get("SCRIPT_NAME", ""), page_path)
    query = environ.get("QUERY_STRING", "")
    return "%s://%s%s%s" % (scheme, host, path, "?" + query if query else "")


def receive(receiver: Receiver, environ: WSGIEnvironment, page_path: str) -> Response:
    """Answer one ping to the trackback URL of the page at ``page_path``."""
    if environ.get("REQUEST_METHOD", "GET") != "POST":
        return answer("TrackBack pings must use HTTP POST", status=405)
    limited = receiver.allow_client(environ)
    if limited is not None:
        return refusal(limited)
    try:
        form = read_form(environ)
        url = single(form, "url")
        title = single(form, "title")
        excerpt = single(form, "excerpt")
        blog_name = single(form, "blog_name")
    except BadRequest as e:
        return answer(e.message, status=413 if e.status == 413 else 200)
    if not url:
        return answer("url is missing")
    outcome = receiver.receive(
        "trackback",
        url,
        target_url(environ, page_path),
        environ,
        title=title,
        excerpt=excerpt,
        blog_name=blog_name,
    )
    if not outcome.accepted:
        return refusal(outcome)
    return answer()


def refusal(outcome: Outcome) -> Response:
    return answer(outcome.message, retry_after=outcome.retry_after)
