"""The RQ worker and the event indexer as threads of the gateway's process.

With no ``REDIS_URL``, one in-memory fake Redis server is shared by the
gateway (queue, event stream), a worker thread (jobs) and an indexer thread
(stream -> SQLite), so the async path and the event store work on a laptop
with nothing installed.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from gateway.settings import GatewaySettings
from shared.scorer import Scorer
from shared.settings import BaseServiceSettings
from shared.store.factory import make_store
from worker import tasks
from worker.indexer import Indexer
from worker.pool import EmbeddedWorker
from worker.settings import WorkerSettings

logger = logging.getLogger(__name__)


class EmbeddedRuntime:
    """The worker and indexer threads of embedded mode.

    Args:
        server: the fakeredis server shared with the gateway.
        settings: gateway settings.
        scorer: the gateway's scorer, shared with the worker thread (no second load).
        publisher: the gateway's event publisher, shared likewise.
    """

    def __init__(self, server: Any, settings: GatewaySettings, scorer: Scorer, publisher: Any) -> None:
        self.server = server
        self.settings = settings
        self.scorer = scorer
        self.publisher = publisher
        self.worker: Any = None
        self.worker_error: str | None = None
        self.indexer_error: str | None = None
        self._indexer_thread: threading.Thread | None = None
        self._indexer_stop = threading.Event()
        self._store: Any = None

    def use_scorer(self, scorer: Scorer) -> None:
        """The in-process worker's next jobs use the gateway's new scorer (``SIGHUP`` reload)."""
        self.scorer = scorer
        runtime = tasks.current_runtime()
        if runtime is not None:
            runtime.use(scorer)

    def _client(self) -> Any:
        import fakeredis

        return fakeredis.FakeRedis(server=self.server)

    def start(self) -> None:
        """Start the worker and the indexer threads the settings ask for."""
        if self.settings.embedded_worker:
            self._start_worker()
        if self.settings.embedded_indexer:
            self._start_indexer()

    def _start_worker(self) -> None:
        # the shared settings are the gateway's; the worker's own come from the environment
        shared = {name: getattr(self.settings, name) for name in BaseServiceSettings.model_fields}
        worker_settings = WorkerSettings(**shared)
        tasks.install(self.scorer, self.publisher, self.settings.pseudonymisation_key)
        self.worker = EmbeddedWorker(self._client(), self._client(), worker_settings)
        self.worker.start()
        logger.info("embedded RQ worker started", extra={"queue": self.settings.queue_name})

    def _start_indexer(self) -> None:
        self._store = make_store(self.settings)  # set up by the indexer's run_forever
        indexer = Indexer(
            redis=self._client(), store=self._store, stream=self.settings.events_stream,
            group=self.settings.indexer_group, consumer="embedded", batch_size=self.settings.indexer_batch_size,
            block_ms=200, threads=1,
        )
        self._indexer_thread = threading.Thread(target=self._run_indexer, args=(indexer,), name="embedded-indexer",
                                                daemon=True)
        self._indexer_thread.start()
        logger.info("embedded indexer started", extra={"stream": self.settings.events_stream,
                                                       "sqlite_path": str(self.settings.sqlite_path)})

    def _run_indexer(self, indexer: Any) -> None:
        try:
            indexer.run_forever(self._indexer_stop)
        except Exception as exc:
            self.indexer_error = f"indexer stopped: {exc}"
            logger.exception("embedded indexer stopped")

    @property
    def worker_started(self) -> bool:
        """True once the worker thread was started."""
        return self.worker is not None

    @property
    def worker_alive(self) -> bool:
        """True while the worker thread runs."""
        return self.worker is not None and self.worker.alive

    @property
    def indexer_alive(self) -> bool:
        """True while the indexer thread runs."""
        return self._indexer_thread is not None and self._indexer_thread.is_alive()

    def stop(self) -> None:
        """Stop the worker, then the indexer (after the publisher has flushed, see the lifespan)."""
        if self.worker is not None:
            self.worker.stop()
            tasks.close_runtime()

    def stop_indexer(self, timeout: float = 5.0) -> None:
        """Stop the indexer thread and close its store."""
        self._indexer_stop.set()
        if self._indexer_thread is not None:
            self._indexer_thread.join(timeout)
        if self._store is not None:
            self._store.close()
