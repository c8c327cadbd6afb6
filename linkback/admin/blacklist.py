"""Blacklist patterns against the linkbacks already stored: preview, block, unblock.

A pattern is matched exactly as the capture matches Referers (:class:`linkback.urls.PatternSet`)
against each linkback's source and permalink. SQL narrows the candidates first to rows
containing the pattern's longest literal piece, so a preview reads a few rows, not all.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from .. import urls
from ..store import Store

logger = logging.getLogger(__name__)

#: Matches listed in a preview at most (the count is always complete).
PREVIEW_ROWS = 50


def literal_fragment(pattern: str) -> str:
    """The longest piece of ``pattern`` every matching URL must contain ('' if unknown)."""
    pattern = urls.validate_pattern(pattern)
    if not pattern.isascii():
        return ""  # IDN labels are matched in punycode: no literal piece is certain
    if "*" not in pattern and "/" not in pattern:
        return urls.normalize_host(pattern) or ""
    if pattern.startswith("*."):
        pattern = pattern[2:]  # "*.example.*" matches the bare "example.com" too
    return max(pattern.split("*"), key=len)


def matching(store: Store, pattern: str) -> list[dict[str, Any]]:
    """Stored linkbacks whose source or permalink the pattern matches, highest value first.

    :raises ValueError: when the pattern is not valid.
    """
    patterns = urls.PatternSet([pattern])
    found = []
    for row in store.linkbacks_containing(literal_fragment(pattern)):
        if any(url and "://" in url and patterns.match(url) for url in (row["source"], row["permalink"])):
            found.append(row)
    return found


def block(store: Store, pattern: str) -> int:
    """Set every linkback the pattern matches to ``blocked``; return how many changed."""
    return store.set_linkbacks_status([row["id"] for row in matching(store, pattern)], "blocked")


def unblock(store: Store, pattern: str, remaining: Iterable[str]) -> int:
    """After ``pattern`` was removed: send the linkbacks it alone blocked back to verification.

    A linkback still matched by another pattern stays blocked; the others become
    ``pending`` with their crawl job due now (they were never verified, or may have changed).
    """
    others = urls.PatternSet()
    for other in remaining:
        try:
            others.add(other)
        except ValueError:
            logger.warning("linkback admin: ignoring invalid blacklist pattern %r", other)
    freed = [
        row["id"]
        for row in matching(store, pattern)
        if row["status"] == "blocked"
        and not (others and any("://" in u and others.match(u) for u in (row["source"], row["permalink"])))
    ]
    if not freed:
        return 0
    store.set_linkbacks_status(freed, "pending")
    store.recrawl_linkbacks(freed)
    return len(freed)


def source_domain_pattern(url: str) -> str | None:
    """The pattern that blacklists a source's whole registrable domain, e.g. ``spam.example``."""
    normalized = urls.normalize_url(url)
    if normalized is None:
        return None
    return urls.registrable_domain(urls.host_of(normalized))
