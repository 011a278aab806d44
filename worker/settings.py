"""Worker settings, read once from the environment."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import Field

from shared.settings import BaseServiceSettings


class WorkerSettings(BaseServiceSettings):
    """What the worker pool and the indexer read from the environment.

    The abandoned-job detection: a job whose worker died is noticed once its
    execution record expires (the job's timeout + ``ABANDONED_GRACE_S``) by the
    next maintenance pass (every ``MAINTENANCE_INTERVAL_S``); it is then retried
    if it has retries left, else marked failed with ``AbandonedJobError``.
    """

    queue_name: str = "scoring"
    processes: int = Field(default=2, ge=1, le=64, description="worker processes of the pool")
    scorer_threads: int = Field(default=1, ge=1, le=64, description="ONNX Runtime intra-op threads per process")
    maintenance_interval_s: int = Field(default=30, ge=1, description="seconds between registry clean-ups")
    abandoned_grace_s: int = Field(default=10, ge=1, description="seconds past its timeout before a job is abandoned")
    spool_dir: Path = Field(default=Path("var/spool/worker"), description="where events wait while Redis is down")
    spool_max_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    rq_log_level: str = Field(default="WARNING", description="RQ's own per-job log lines are INFO")
    indexer_group: str = "indexer"
    indexer_consumer: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    indexer_batch_size: int = Field(default=500, ge=1)
    indexer_block_ms: int = Field(default=1000, ge=1)

    @property
    def worker_ttl(self) -> int:
        """RQ worker TTL: an idle worker wakes every ``worker_ttl - 15`` s, so maintenance keeps its interval."""
        return self.maintenance_interval_s + 15
