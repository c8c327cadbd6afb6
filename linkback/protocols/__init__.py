"""Webmention, Pingback and Trackback, received and sent.

Receiving: the middleware serves the endpoints under its prefix (:mod:`.app`) and
advertises them on its sites' HTML pages; :mod:`.tags` renders the matching ``<link>``
tags and Trackback RDF block for templates. Every notification becomes a pending linkback
that the crawler verifies.

Sending: :func:`send_linkbacks` (and ``linkback send``) finds the links in a page of ours,
discovers each target's endpoint (:mod:`.discovery`) and notifies it.
"""

from __future__ import annotations

from .app import ProtocolsApp, make_app
from .commands import send
from .discovery import Endpoints, discover
from .limits import Limits
from .receiver import Receiver
from .sender import SendResult, send_linkbacks
from .tags import link_tags, protocol_tags, trackback_rdf, trackback_url

#: Commands added to ``linkback`` (see :data:`linkback.cli.COMMAND_MODULES`).
commands = [send]

__all__ = [
    "Endpoints",
    "Limits",
    "ProtocolsApp",
    "Receiver",
    "SendResult",
    "commands",
    "discover",
    "link_tags",
    "make_app",
    "protocol_tags",
    "send",
    "send_linkbacks",
    "trackback_rdf",
    "trackback_url",
]
