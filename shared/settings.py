"""Settings shared by every service, read once from environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A value that only development may use; production refuses it.
DEV_PSEUDONYMISATION_KEY = "dev-only-pseudonymisation-key"
_PLACEHOLDERS = {"", "changeme", "change-me", "secret", DEV_PSEUDONYMISATION_KEY}


class BaseServiceSettings(BaseSettings):
    """What every service reads from the environment.

    Unset server URLs mean embedded mode: fakeredis for the queue and the
    stream, SQLite for the events, reports and alerts.
    """

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    environment: Literal["development", "production"] = Field(
        default="development", description="production refuses placeholder secrets"
    )
    redis_url: str | None = Field(default=None, description="Redis URL; unset = embedded fakeredis")
    elasticsearch_url: str | None = Field(default=None, description="Elasticsearch URL; unset = SQLite store")
    model_dir: Path = Field(default=Path("models/default"), description="model bundle directory")
    pseudonymisation_key: str = Field(
        default=DEV_PSEUDONYMISATION_KEY, description="HMAC key of client pseudonyms (secret, required in production)"
    )
    es_index_prefix: str = Field(default="scoring", description="prefix of the Elasticsearch indices")
    sqlite_path: Path = Field(default=Path("var/scoring.sqlite3"), description="embedded store (no ELASTICSEARCH_URL)")
    events_stream: str = Field(default="scoring:events", description="Redis Stream of the scoring events")
    events_stream_maxlen: int = Field(
        default=1_000_000, ge=0,
        description="stream length (~1.9 KB of Redis memory each) from which publishers spool new events; 0 = no cap",
    )
    retention_days: int = Field(default=90, ge=1, description="days of events kept")
    bundle_cache_dir: Path = Field(
        default=Path("var/bundles"), description="where bundles named by the registry over HTTP are copied"
    )
    shadow_rate: float = Field(
        default=0.1, ge=0.0, le=1.0, description="share of scored applications the challenger also scores (shadow)"
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> BaseServiceSettings:
        if self.environment == "production" and self.pseudonymisation_key.strip().lower() in _PLACEHOLDERS:
            raise ValueError("PSEUDONYMISATION_KEY must be set to a real secret when ENVIRONMENT=production")
        return self

    @property
    def embedded(self) -> bool:
        """True when no Redis server is configured."""
        return not self.redis_url
