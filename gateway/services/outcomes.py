"""The gateway's way to the outcome store: direct and synchronous, set up on first use.

``POST /v1/outcomes`` answers with what was stored (accepted / updated /
unchanged), which only the store can tell after its write. So the gateway
holds a store client of its own (Elasticsearch, or the SQLite file in
embedded mode) and writes in the request, in a worker thread, instead of
publishing to the events stream as scoring does: the stream would only say
"enqueued", and a write failing later would be a silent partial write.
Outcome uploads are few and large (up to 10,000 items), so a bulk write per
request is cheap; the scoring path is untouched.

The store is set up (index templates, tables) on the first request rather than
at start-up, so a store that is down when the gateway starts costs a 503 on
this route only, never the scoring routes.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

from gateway.exceptions import ServiceUnavailableError
from gateway.settings import GatewaySettings
from shared.outcomes import OutcomeService
from shared.store.exceptions import StoreError

logger = logging.getLogger(__name__)


class OutcomeGateway:
    """Builds the outcome service over the settings' store, once it could be set up.

    Args:
        settings: the gateway settings (``ELASTICSEARCH_URL`` or ``SQLITE_PATH``, ``PSEUDONYMISATION_KEY``).
        store: a store to use instead of the settings' one (tests).
    """

    def __init__(self, settings: GatewaySettings, store: Any = None) -> None:
        self.settings = settings
        self._store = store
        self._service: OutcomeService | None = None
        self._lock = threading.Lock()

    def service(self) -> OutcomeService:
        """The ingestion service (the store set up on the first call).

        Raises:
            ServiceUnavailableError: the store cannot be reached or set up.
        """
        if self._service is not None:
            return self._service
        with self._lock:
            if self._service is None:
                try:
                    if self._store is None:
                        from shared.store.factory import make_store

                        self._store = make_store(self.settings)
                    self._store.setup()
                except (StoreError, OSError, sqlite3.Error) as exc:
                    logger.warning("outcome store not reachable", extra={"error": str(exc)})
                    raise ServiceUnavailableError(f"the outcome store is unavailable ({exc}): retry later") from exc
                self._service = OutcomeService(self._store, self.settings.pseudonymisation_key)
        return self._service

    def close(self) -> None:
        """Close the store's connections."""
        if self._store is not None:
            self._store.close()
