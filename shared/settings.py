"""Settings shared by every service, read once from environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A value that only development may use; production refuses it.
DEV_PSEUDONYMISATION_KEY = "dev-only-pseudonymisation-key"
_PLACEHOLDERS = {"", "changeme", "change-me", "secret", DEV_PSEUDONYMISATION_KEY}
# Defaults that classes built without settings (tests, scripts) take as well.
EVENTS_STREAM_MAXLEN = 1_000_000
SPOOL_DIR = Path("var/spool")
SPOOL_MAX_BYTES = 256 * 1024 * 1024
INDEXER_GROUP = "indexer"
INDEXER_BATCH_SIZE = 500


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
    redis_sentinels: str | None = Field(
        default=None, description="host:port,host:port of Redis Sentinels: the primary is asked of them "
        "(REDIS_URL then gives only the database and password)")
    redis_master_name: str = Field(default="mymaster", min_length=1, description="Sentinel name of the primary")
    elasticsearch_url: str | None = Field(default=None, description="Elasticsearch URL; unset = SQLite store")
    elasticsearch_username: str | None = Field(
        default=None, description="Elasticsearch user (HTTP basic auth, with ELASTICSEARCH_PASSWORD)")
    elasticsearch_password: SecretStr | None = Field(
        default=None, description="password of ELASTICSEARCH_USERNAME (secret)")
    elasticsearch_api_key: SecretStr | None = Field(
        default=None, description="Elasticsearch API key, the encoded form (secret); instead of a user and password")
    elasticsearch_ca_certs: Path | None = Field(
        default=None, description="PEM file of the CA that signed Elasticsearch's certificate (a private CA)")
    model_dir: Path = Field(default=Path("models/default"), description="model bundle directory")
    pseudonymisation_key: str = Field(
        default=DEV_PSEUDONYMISATION_KEY, description="HMAC key of client pseudonyms (secret, required in production)"
    )
    es_index_prefix: str = Field(default="scoring", description="prefix of the Elasticsearch indices")
    es_number_of_replicas: int = Field(
        default=0, ge=0, le=10, description="replicas per shard of the indices created (1 on a cluster of 3 nodes)")
    es_number_of_shards: int = Field(
        default=1, ge=1, le=64, description="primary shards of each daily events index (one per ~50 GB a day)")
    sqlite_path: Path = Field(default=Path("var/scoring.sqlite3"), description="embedded store (no ELASTICSEARCH_URL)")
    events_stream: str = Field(default="scoring:events", description="Redis Stream of the scoring events")
    events_stream_maxlen: int = Field(
        default=EVENTS_STREAM_MAXLEN, ge=0,
        description="stream length (~1.9 KB of Redis memory each) from which publishers spool new events; 0 = no cap",
    )
    spool_dir: Path = Field(default=SPOOL_DIR,
                            description="where events wait while Redis is down (one slot folder per process)")
    spool_max_bytes: int = Field(default=SPOOL_MAX_BYTES, gt=0, description="bound of the spool on disk")
    queue_name: str = Field(default="scoring", description="RQ queue of the scoring jobs")
    scorer_threads: int = Field(default=1, ge=1, le=64, description="ONNX Runtime intra-op threads per process")
    indexer_group: str = Field(default=INDEXER_GROUP, description="consumer group of the indexer on the events stream")
    indexer_batch_size: int = Field(default=INDEXER_BATCH_SIZE, ge=1,
                                    description="events per read and per bulk write of the indexer")
    retention_days: int = Field(default=90, ge=1, description="days of events kept")
    bundle_cache_dir: Path = Field(
        default=Path("var/bundles"), description="where bundles named by the registry over HTTP are copied"
    )
    shadow_rate: float = Field(
        default=0.1, ge=0.0, le=1.0, description="share of scored applications the challenger also scores (shadow)"
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")

    @model_validator(mode="after")
    def _one_elasticsearch_credential(self) -> BaseServiceSettings:
        user, password = self.elasticsearch_username, self.elasticsearch_password
        if bool(user) != bool(password and password.get_secret_value()):
            raise ValueError("ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD go together: set both or neither")
        if user and self.elasticsearch_api_key:
            raise ValueError("set ELASTICSEARCH_API_KEY or ELASTICSEARCH_USERNAME/PASSWORD, not both")
        if self.elasticsearch_ca_certs is not None and not self.elasticsearch_ca_certs.is_file():
            raise ValueError(f"ELASTICSEARCH_CA_CERTS: no file at {self.elasticsearch_ca_certs}")
        return self

    def elasticsearch_options(self) -> dict[str, Any]:
        """The client's keyword arguments for the configured credentials and CA (empty: none)."""
        options: dict[str, Any] = {}
        if self.elasticsearch_username and self.elasticsearch_password:
            options["basic_auth"] = (self.elasticsearch_username, self.elasticsearch_password.get_secret_value())
        if self.elasticsearch_api_key:
            options["api_key"] = self.elasticsearch_api_key.get_secret_value()
        if self.elasticsearch_ca_certs is not None:
            options["ca_certs"] = str(self.elasticsearch_ca_certs)
        return options

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> BaseServiceSettings:
        if self.environment == "production" and self.pseudonymisation_key.strip().lower() in _PLACEHOLDERS:
            raise ValueError("PSEUDONYMISATION_KEY must be set to a real secret when ENVIRONMENT=production")
        return self

    @property
    def embedded(self) -> bool:
        """True when no Redis server is configured."""
        return not self.redis_url
