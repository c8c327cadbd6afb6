"""The Pingback 1.0 receiver: XML-RPC at ``{prefix}xmlrpc``.

Two methods only: ``pingback.ping(source, target)`` and
``pingback.extensions.getPingbacks(url)``. There is no ``system.multicall`` (on WordPress
one request could carry hundreds of calls through it) nor any other introspection.
Neither method fetches anything: a ping is recorded as a pending linkback and verified by
the crawler; ``getPingbacks`` answers from verified data.

Faults use the Pingback specification's codes: 0 generic, 0x0010 source does not exist,
0x0011 source does not link to target, 0x0020 target does not exist, 0x0021 target cannot
be used, 0x0030 already registered, 0x0031 access denied, 0x0032 upstream error; and the
XML-RPC interoperability codes (-32700 parse error, -32600 not XML-RPC, -32601 no such
method, -32602 bad parameters) for malformed calls.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from .receiver import BadRequest, Outcome, Receiver, read_body
from .webmention import text_response
from .xmlrpc import (
    INVALID_PARAMS,
    MAX_BODY,
    METHOD_NOT_FOUND,
    Fault,
    dump_fault,
    dump_response,
    parse_call,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

logger = logging.getLogger(__name__)

GENERIC = 0
SOURCE_MISSING = 0x0010
NO_LINK = 0x0011
TARGET_MISSING = 0x0020
TARGET_INVALID = 0x0021
ALREADY_REGISTERED = 0x0030
ACCESS_DENIED = 0x0031
UPSTREAM_ERROR = 0x0032

#: The fault code of each refused outcome.
FAULT_OF = {
    "invalid-source": SOURCE_MISSING,
    "source-missing": SOURCE_MISSING,
    "no-link": NO_LINK,
    "invalid-target": TARGET_INVALID,
    "not-our-site": TARGET_INVALID,
    "no-such-target": TARGET_MISSING,
    "same-url": GENERIC,
    "already-registered": ALREADY_REGISTERED,
    "blacklisted": ACCESS_DENIED,
    "blocked": ACCESS_DENIED,
    "rate-limited": ACCESS_DENIED,
    "upstream-error": UPSTREAM_ERROR,
    "unavailable": GENERIC,
}


def xml_response(body: bytes, status: int = 200, retry_after: int | None = None) -> Response:
    response = Response(body, status=status, content_type="text/xml; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def fault_response(outcome: Outcome) -> Response:
    return xml_response(
        dump_fault(FAULT_OF.get(outcome.reason, GENERIC), outcome.message),
        retry_after=outcome.retry_after,
    )


def receive(receiver: Receiver, environ: WSGIEnvironment) -> Response:
    """Answer one request to the XML-RPC endpoint."""
    if environ.get("REQUEST_METHOD", "GET") != "POST":
        return text_response("XML-RPC server accepts POST requests only.", 405, Allow="POST")
    limited = receiver.allow_client(environ)
    if limited is not None:
        return fault_response(limited)
    try:
        body = read_body(environ, limit=MAX_BODY)
    except BadRequest as e:
        return text_response(e.message, e.status)
    try:
        method, params = parse_call(body)
    except Fault as fault:
        return xml_response(dump_fault(fault.code, fault.message))
    if method == "pingback.ping":
        return ping(receiver, environ, params)
    if method == "pingback.extensions.getPingbacks":
        return get_pingbacks(receiver, environ, params)
    return xml_response(dump_fault(METHOD_NOT_FOUND, "server error: requested method not found"))


def _strings(params: list[Any], count: int) -> list[str] | None:
    if len(params) != count or not all(isinstance(p, str) for p in params):
        return None
    return params


def ping(receiver: Receiver, environ: WSGIEnvironment, params: list[Any]) -> Response:
    """``pingback.ping(sourceURI, targetURI)``."""
    values = _strings(params, 2)
    if values is None:
        return xml_response(
            dump_fault(INVALID_PARAMS, "pingback.ping takes two strings: source and target")
        )
    source, target = values
    outcome = receiver.receive("pingback", source, target, environ, strict=True)
    if not outcome.accepted:
        return fault_response(outcome)
    return xml_response(
        dump_response(
            "Pingback from %s to %s registered; it will be verified."
            % (receiver.normalize(source), receiver.normalize(target))
        )
    )


def get_pingbacks(receiver: Receiver, environ: WSGIEnvironment, params: list[Any]) -> Response:
    """``pingback.extensions.getPingbacks(url)``: the verified pingbacks of one of our pages."""
    values = _strings(params, 1)
    if values is None:
        return xml_response(dump_fault(INVALID_PARAMS, "getPingbacks takes one string: the URL"))
    target = receiver.normalize(values[0])
    if target is None or receiver.site_of(target, environ) is None:
        return fault_response(Outcome("not-our-site", "the URL is not a page of this site"))
    if receiver.check_targets and receiver.target_status(target, environ) in (404, 410):
        return fault_response(Outcome("no-such-target", "the URL does not exist"))
    try:
        sources = receiver.middleware.store.notified_sources(target, "pingback")
    except Exception:
        logger.exception("linkback: cannot read pingbacks")
        return fault_response(Outcome("unavailable", "cannot read pingbacks now"))
    return xml_response(dump_response(sources))
