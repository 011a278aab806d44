"""Worker settings, read once from the environment."""

from __future__ import annotations

import os
import socket

from pydantic import Field

from shared.settings import BaseServiceSettings

INDEXER_BLOCK_MS = 1000  # also the default of an Indexer built without settings
INDEXER_LINGER_MS = 200


class WorkerSettings(BaseServiceSettings):
    """What the worker pool and the indexer read from the environment.

    The abandoned-job detection: a job whose worker died is noticed once its
    execution record expires (the job's timeout + ``ABANDONED_GRACE_S``) by the
    next maintenance pass (every ``MAINTENANCE_INTERVAL_S``); it is then retried
    if it has retries left, else marked failed with ``AbandonedJobError``.
    """

    processes: int = Field(default=2, ge=1, le=64, description="worker processes of the pool")
    maintenance_interval_s: int = Field(default=30, ge=1, description="seconds between registry clean-ups")
    abandoned_grace_s: int = Field(default=10, ge=1, description="seconds past its timeout before a job is abandoned")
    rq_log_level: str = Field(default="WARNING", description="RQ's own per-job log lines are INFO")
    indexer_consumer: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    indexer_block_ms: int = Field(default=INDEXER_BLOCK_MS, ge=1)
    indexer_linger_ms: int = Field(
        default=INDEXER_LINGER_MS, ge=0,
        description="after a batch smaller than INDEXER_BATCH_SIZE, how long a consumer lets events gather before "
                    "its next read (fewer, larger bulks: less CPU per event; 0 = read again at once)")

    @property
    def worker_ttl(self) -> int:
        """RQ worker TTL: an idle worker wakes every ``worker_ttl - 15`` s, so maintenance keeps its interval."""
        return self.maintenance_interval_s + 15
