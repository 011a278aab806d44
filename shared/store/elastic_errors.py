"""How Elasticsearch failures map to the store's errors: retry later, or refused for good."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Literal, ParamSpec, TypeVar

from elastic_transport import TlsError
from elasticsearch import ApiError, TransportError

from shared.store.exceptions import StoreError, StoreUnavailableError

P = ParamSpec("P")
R = TypeVar("R")

# Whole-request statuses that mean "the server is there but cannot take it now".
_UNAVAILABLE_STATUSES = frozenset({408, 429, 502, 503, 504})
# Per-document error types that a later retry can succeed on (the document itself is fine).
_TRANSIENT_TYPES = frozenset({
    "es_rejected_execution_exception",
    "circuit_breaking_exception",
    "index_closed_exception",
    "cluster_block_exception",
    "unavailable_shards_exception",
    "no_shard_available_action_exception",
    "process_cluster_event_timeout_exception",
    "node_not_connected_exception",
    "node_closed_exception",
    "timeout_exception",
})


def classify_item_error(status: int, error: Mapping[str, Any]) -> Literal["retry", "failed"]:
    """Whether a document refused in a bulk response may succeed later ("retry") or never ("failed")."""
    if status in _UNAVAILABLE_STATUSES or status >= 500 or error.get("type") in _TRANSIENT_TYPES:
        return "retry"
    return "failed"


def translate_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Turn the client's exceptions into :class:`StoreUnavailableError` (retry) or :class:`StoreError`."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except ApiError as exc:
            if exc.meta.status in _UNAVAILABLE_STATUSES or exc.meta.status >= 500:
                raise StoreUnavailableError(f"Elasticsearch {exc.meta.status}: {exc.message}") from exc
            raise StoreError(f"Elasticsearch {exc.meta.status}: {exc.message} {_cause(exc)}"
                             f"{_HINTS.get(exc.meta.status, '')}") from exc
        except TlsError as exc:  # a configuration matter, though the indexer keeps retrying (its entries wait)
            raise StoreUnavailableError(f"Elasticsearch TLS handshake failed: {exc} (is ELASTICSEARCH_CA_CERTS the "
                                        "CA that signed the server's certificate?)") from exc
        except TransportError as exc:  # connection refused, timeout, TLS: the server is not reachable
            raise StoreUnavailableError(f"Elasticsearch unreachable: {exc}") from exc

    return wrapper


_HINTS = {
    401: " (credentials refused: check ELASTICSEARCH_USERNAME/ELASTICSEARCH_PASSWORD or ELASTICSEARCH_API_KEY)",
    403: " (the Elasticsearch user lacks a privilege on these indices)",
}


def _cause(exc: ApiError) -> str:
    body = exc.body if isinstance(exc.body, Mapping) else {}
    error = body.get("error")
    reason = ""
    while isinstance(error, Mapping):  # the deepest cause says what is wrong
        reason = str(error.get("reason") or reason)
        error = error.get("caused_by")
    return reason


def item_reason(error: Mapping[str, Any]) -> str:
    """One line from a bulk item's error: ``type: reason (cause)``."""
    text = f"{error.get('type', 'error')}: {error.get('reason', '')}"
    cause = error.get("caused_by")
    if isinstance(cause, Mapping) and cause.get("reason"):
        text += f" ({cause['reason']})"
    return text
