"""The Webmention receiver (W3C Recommendation, 12 January 2017).

``POST {prefix}webmention`` with form-encoded ``source`` and ``target``. Invalid requests get
``400 Bad Request`` with a plain-text reason (section 3.2.3). A valid one is recorded and
verified later by the crawler (section 3.2.2: verification SHOULD be asynchronous, against
denial of service), and answered ``201 Created`` with a ``Location`` status page, as
section 3.2.1 asks of a receiver that offers one. The status page
``GET {prefix}webmention/status/<token>`` answers JSON with ``status`` ``pending``,
``verified`` or ``rejected``.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from werkzeug.wrappers import Response

from .. import urls
from .receiver import BadRequest, Outcome, Receiver, read_form, single

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

logger = logging.getLogger(__name__)

#: HTTP status of each refusal; everything the sender got wrong is 400 (section 3.2.3).
STATUS_OF = {
    "rate-limited": 429,
    "unavailable": 503,
}

#: What a linkback's status means to the sender reading the status page.
PUBLIC_STATUS = {
    "pending": ("pending", "verification is pending"),
    "verified": ("verified", "source links to target"),
    "held": ("verified", "source links to target; awaiting moderation"),
    "hidden": ("verified", "source links to target"),
    "unverified": ("rejected", "source does not link to target"),
    "gone": ("rejected", "source is gone or no longer links to target"),
    "blocked": ("rejected", "source is not accepted here"),
    "error": ("rejected", "source could not be fetched"),
}


def text_response(message: str, status: int, **headers: str) -> Response:
    response = Response(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    for name, value in headers.items():
        response.headers[name.replace("_", "-")] = value
    return response


def receive(receiver: Receiver, environ: WSGIEnvironment, prefix: str) -> Response:
    """Answer one request to the Webmention endpoint."""
    method = environ.get("REQUEST_METHOD", "GET")
    if method != "POST":
        return text_response(
            "This is a Webmention endpoint: POST form-encoded source and target.", 405, Allow="POST"
        )
    limited = receiver.allow_client(environ)
    if limited is not None:
        return refusal(limited)
    try:
        form = read_form(environ)
        source = single(form, "source")
        target = single(form, "target")
    except BadRequest as e:
        return text_response(e.message, e.status)
    if not source:
        return text_response("source is missing", 400)
    if not target:
        return text_response("target is missing", 400)
    outcome = receiver.receive("webmention", source, target, environ)
    if not outcome.accepted:
        return refusal(outcome)
    location = status_url(environ, prefix, outcome.token or "", receiver)
    return text_response(
        "Accepted: the mention will be verified. Status: %s" % location, 201, Location=location
    )


def refusal(outcome: Outcome) -> Response:
    status = STATUS_OF.get(outcome.reason, 400)
    headers = (
        {"Retry_After": str(outcome.retry_after)} if outcome.retry_after and status != 400 else {}
    )
    return text_response(outcome.message, status, **headers)


def status_url(environ: WSGIEnvironment, prefix: str, token: str, receiver: Receiver) -> str:
    """The status page's URL: absolute on one of our hosts, else relative to this server.

    The ``Host`` header is the client's; it reaches the response only when it names one of
    our sites, and then normalised (the same rule as the middleware's advertisement).
    """
    path = "%s%swebmention/status/%s" % (environ.get("SCRIPT_NAME", "").rstrip("/"), prefix, token)
    host = environ.get("HTTP_HOST", "")
    scheme = environ.get("wsgi.url_scheme", "http")
    normalized = urls.normalize_host(host)
    if (
        normalized
        and scheme in ("http", "https")
        and receiver.site_of("%s://%s/" % (scheme, normalized), environ)
    ):
        port = host.rsplit(":", 1)[1] if host.count(":") == 1 and not host.startswith("[") else ""
        return "%s://%s%s%s" % (scheme, normalized, ":" + port if port else "", path)
    return path


def status(receiver: Receiver, environ: WSGIEnvironment, token: str) -> Response:
    """The status page of one Webmention, as JSON."""
    if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
        return text_response("use GET", 405, Allow="GET, HEAD")
    if not token or len(token) > 64:
        return text_response("no such webmention", 404)
    try:
        row = receiver.middleware.store.notification(token)
    except Exception:
        logger.exception("linkback: cannot read a webmention status")
        return text_response("status unavailable; try again later", 503)
    if row is None:
        return text_response("no such webmention", 404)
    public, detail = PUBLIC_STATUS.get(row["status"] or "gone", ("rejected", "removed"))
    body = {
        "source": row["source"],
        "target": row["target"],
        "status": public,
        "detail": detail,
        "received": row["received_at"],
        "verified": row["verified_at"],
    }
    response = Response(json.dumps(body, indent=1), content_type="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response
