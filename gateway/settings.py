"""Gateway settings, read once from the environment."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import NoDecode

from shared.settings import BaseServiceSettings

logger = logging.getLogger(__name__)

_PLACEHOLDER_KEYS = {"changeme", "change-me", "secret", "dev", "dev-key", "test", "apikey", "api-key"}
MIN_PRODUCTION_KEY_LENGTH = 16
MAX_JOB_LIFETIME_S = 86_400  # RQ jobs hold the clear client id: never longer than a day


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class GatewaySettings(BaseServiceSettings):
    """What the gateway reads from the environment (see also :class:`BaseServiceSettings`).

    ``API_KEYS`` is a comma-separated list. Running without keys needs
    ``ALLOW_NO_API_KEY=true`` and is refused in production.
    """

    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list, description="accepted X-API-Key values")
    allow_no_api_key: bool = Field(default=False, description="development only: accept requests without a key")
    max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0, description="largest accepted request body")
    max_batch_size: int = Field(default=1000, ge=1, le=100_000, description="most applications in one batch")
    job_result_ttl: int = Field(default=3600, gt=0, description="seconds a finished or failed job stays readable")
    job_queue_ttl: int = Field(default=3600, gt=0,
                               description="seconds a job may wait in the queue before it is discarded")
    job_timeout: int = Field(default=30, gt=0, description="seconds one scoring job may run")
    job_retries: int = Field(default=3, ge=0, description="retries of a job that fails for a transient reason")
    job_retry_intervals: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [1, 5, 15], description="seconds before each retry (comma-separated)"
    )
    job_linger_ms: float = Field(
        default=5.0, ge=0, le=1000,
        description="single applications submitted within this many ms (same options) share one RQ job",
    )
    job_linger_max_ms: float = Field(
        default=20.0, ge=0, le=1000,
        description="while jobs wait for a worker the linger doubles per group, up to this (larger, cheaper groups)",
    )
    job_group_max: int = Field(default=64, ge=1, le=10_000, description="most applications coalesced into one RQ job")
    batch_offload_size: int = Field(
        default=16, ge=1, description="batches at least this large are scored in a thread, off the event loop"
    )
    host: str = Field(default="127.0.0.1", description="bind address (0.0.0.0 in the image)")
    port: int = Field(default=8000, ge=1, le=65535, description="API port")
    workers: int = Field(default=1, ge=1, le=64, validation_alias=AliasChoices("WEB_CONCURRENCY", "WORKERS"),
                         description="HTTP server worker processes (embedded mode: always 1)")
    http_server: Literal["uvicorn", "granian"] = Field(
        default="uvicorn", description="HTTP server of python -m gateway: uvicorn (uvloop, httptools) or granian"
    )
    access_log: bool = Field(default=True,
                             description="a JSON access line per request logged (which ones: ACCESS_LOG_SAMPLE)")
    access_log_sample: float = Field(
        default=0.1, ge=0.0, le=1.0,
        description="share of ordinary requests (answered below 400, faster than ACCESS_LOG_SLOW_MS) given an access "
                    "line, chosen at random; errors and slow requests always get one; 1: every request",
    )
    access_log_slow_ms: float = Field(default=25.0, ge=0.0,
                                      description="a request this slow (ms) or slower always gets its access line")
    raw_input_max_chars: int = Field(default=16_384, ge=0, description="refused input kept in an invalid event")
    embedded_worker: bool = Field(default=True, description="embedded mode: run the RQ worker in a thread")
    embedded_indexer: bool = Field(default=True, description="embedded mode: index events into SQLite in a thread")
    redis_timeout_s: float = Field(default=2.0, gt=0, description="Redis socket timeout of the gateway")

    _split_keys = field_validator("api_keys", "job_retry_intervals", mode="before")(_split_csv)

    @model_validator(mode="after")
    def _check_keys(self) -> GatewaySettings:
        if self.environment == "production":
            if self.allow_no_api_key:
                raise ValueError("ALLOW_NO_API_KEY=true is refused when ENVIRONMENT=production")
            weak = [k for k in self.api_keys if k.lower() in _PLACEHOLDER_KEYS or len(k) < MIN_PRODUCTION_KEY_LENGTH]
            if weak:
                raise ValueError(
                    f"API_KEYS holds {len(weak)} placeholder or short key(s): production keys need "
                    f"{MIN_PRODUCTION_KEY_LENGTH}+ characters"
                )
        if not self.api_keys and not self.allow_no_api_key:
            raise ValueError(
                "no API key configured: set API_KEYS (comma-separated), or ALLOW_NO_API_KEY=true in development"
            )
        if any(i < 0 for i in self.job_retry_intervals):
            raise ValueError("JOB_RETRY_INTERVALS must be >= 0 seconds")
        if self.job_clear_id_max_s > MAX_JOB_LIFETIME_S:
            raise ValueError(
                f"a job (which holds the client id in clear) could stay {self.job_clear_id_max_s} s in Redis: at "
                f"most {MAX_JOB_LIFETIME_S} s (24 h) are allowed; lower JOB_QUEUE_TTL or JOB_RESULT_TTL")
        return self

    @property
    def job_clear_id_max_s(self) -> int:
        """The longest a job's hash (with the applications as sent, client id included) can stay in Redis.

        Waiting in the queue (``JOB_QUEUE_TTL``), then every attempt running up to ``JOB_TIMEOUT`` with the
        retry pauses between them (RQ keeps the hash without expiry meanwhile), then the result or failure
        kept ``JOB_RESULT_TTL``.
        """
        intervals = self.job_retry_intervals or [0]
        pauses = sum(intervals[min(i, len(intervals) - 1)] for i in range(self.job_retries))
        return self.job_queue_ttl + (self.job_retries + 1) * self.job_timeout + pauses + self.job_result_ttl
