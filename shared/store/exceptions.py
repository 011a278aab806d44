"""Errors of the stores, converted where they leave the package (a retried batch, a 503)."""

from shared.exceptions import SharedError


class StoreError(SharedError):
    """The store failed in a way that a retry will not fix (bad request, bad setting)."""


class StoreUnavailableError(StoreError):
    """The store's server does not answer or is overloaded: retry later, nothing was lost."""
