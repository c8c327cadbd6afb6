"""The exceptions linkback raises."""

from __future__ import annotations


class LinkbackError(Exception):
    """Base class of every error linkback raises on purpose."""


class ConfigError(LinkbackError, ValueError):
    """An option given to linkback is missing, of the wrong type or out of range."""


class StoreError(LinkbackError):
    """The database could not be opened, read or written."""


class FetchError(LinkbackError):
    """A remote page could not be fetched."""


class UnsafeURLError(FetchError):
    """A URL was refused before any connection: wrong scheme or a forbidden address."""


class HostBusy(FetchError):
    """A redirect leads to a host that another request is using or was crawled a moment ago."""
