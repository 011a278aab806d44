"""Settings of the monitoring service, read once from environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

from shared.settings import BaseServiceSettings


class DriftSettings(BaseSettings):
    """The drift runs: schedule, window, tests and thresholds (``DRIFT_*``), and where reports go."""

    reports_dir: Path = Field(default=Path("var/reports"), description="where drift HTML reports are written")
    drift_interval_seconds: int = Field(default=3600, ge=10, description="seconds between scheduled drift runs")
    drift_window_hours: float = Field(default=24.0, gt=0, description="scheduled run: events of the last H hours")
    drift_max_events: int = Field(default=100_000, ge=1, description="newest events analysed at most per run")
    drift_min_rows: int = Field(default=500, ge=1, description="below this many events: 'not enough data'")
    drift_min_feature_rows: int = Field(default=100, ge=1,
                                        description="non-missing values a feature needs for its distribution test")
    drift_numeric_threshold: float = Field(default=0.1, gt=0, description="normed Wasserstein distance")
    drift_categorical_threshold: float = Field(default=0.1, gt=0, description="Jensen-Shannon distance")
    drift_missing_threshold: float = Field(default=0.05, gt=0, le=1,
                                           description="absolute change of a missing (or special-value) share")
    drift_missing_z: float = Field(default=3.29, ge=0, description="two-proportion z needed as well (3.29: p<0.001)")
    drift_score_threshold: float = Field(default=0.1, gt=0, description="PSI of the predicted score")
    drift_share_threshold: float = Field(default=0.3, gt=0, le=1,
                                         description="share of drifted features that makes the run critical")
    drift_feature_thresholds: dict[str, float] = Field(
        default_factory=dict, description='per-feature threshold override, JSON: {"AMT_INCOME_TOTAL": 0.15}')
    drift_features: str = Field(default="all", description="'all' or a comma-separated list of feature names")
    drift_discrete_max_values: int = Field(default=20, ge=2,
                                           description="numbers with at most this many distinct values are discrete")
    drift_rare_category_share: float = Field(default=0.005, ge=0, lt=1,
                                             description="reference categories rarer than this are pooled")
    drift_noise_factor: float = Field(default=3.5, ge=0,
                                      description="distances below this many times the sampling noise are not drift")
    drift_html_max_features: int = Field(default=10, ge=0, description="feature plots in the HTML report")

    @field_validator("drift_features")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip() or "all"

    def drift_feature_list(self) -> list[str] | None:
        """The configured feature subset, or None for all features."""
        if self.drift_features.lower() == "all":
            return None
        return [name.strip() for name in self.drift_features.split(",") if name.strip()]


class AnomalySettings(BaseSettings):
    """The anomaly checks: schedule, windows, limits, and where the queue backlog is read."""

    anomaly_interval_seconds: int = Field(default=60, ge=5, description="seconds between anomaly checks")
    anomaly_window_seconds: int = Field(default=300, ge=10, description="length of the checked window")
    anomaly_baseline_windows: int = Field(default=12, ge=1, description="previous windows forming the baseline")
    anomaly_baseline_factor: float = Field(default=3.0, gt=1, description="value > factor x baseline is anomalous")
    anomaly_min_events: int = Field(default=20, ge=1, description="fewer events than this: rates are not judged")
    anomaly_min_bad_events: int = Field(
        default=5, ge=1, description="errors (or refused inputs) a window needs before its rate can raise an alert")
    anomaly_cooldown_seconds: int = Field(default=900, ge=0, description="same alert not repeated within this time")
    error_rate_max: float = Field(default=0.02, ge=0, le=1, description="share of status=error events")
    invalid_rate_max: float = Field(default=0.2, ge=0, le=1, description="share of refused (invalid) inputs")
    throughput_min_per_min: float = Field(
        default=0.0, ge=0, description="events per minute below which traffic is an outage (critical); 0: off")
    throughput_max_per_min: float = Field(
        default=60_000.0, gt=0, description="events per minute above which the service nears its capacity (warning)")
    latency_p50_max_ms: dict[str, float] = Field(default_factory=lambda: {"sync": 50.0, "async": 1000.0},
                                                 description="per path, JSON")
    latency_p95_max_ms: dict[str, float] = Field(default_factory=lambda: {"sync": 100.0, "async": 2000.0},
                                                 description="per path, JSON")
    latency_p99_max_ms: dict[str, float] = Field(default_factory=lambda: {"sync": 300.0, "async": 5000.0},
                                                 description="per path, JSON")
    inference_p95_max_ms: float = Field(default=50.0, gt=0, description="model time p95 limit (ms) per window")
    queue_depth_max: int = Field(default=1000, ge=0, description="jobs waiting in the RQ queue: limit")
    queue_age_max_seconds: float = Field(default=60.0, gt=0, description="age of the oldest waiting job: limit (s)")
    rq_queues: str | None = Field(default=None, description="comma-separated RQ queues to watch; unset: QUEUE_NAME")
    rq_key_prefix: str = Field(default="rq", min_length=1,
                               description="namespace of RQ's Redis keys: PREFIX:queue:NAME, PREFIX:job:ID")
    gateway_metrics_url: str | None = Field(
        default=None, description="without REDIS_URL: the gateway's /metrics, where the embedded queue is read")
    # --- alert routing --------------------------------------------------------------
    alert_webhook_url: SecretStr | None = Field(
        default=None, description='Slack-compatible incoming webhook (POST {"text": ...}) told of alerts; secret')
    alert_webhook_cooldown_seconds: float = Field(
        default=3600.0, ge=0, description="a condition that holds is sent again after this long (a rise: at once)")
    alert_webhook_retries: int = Field(default=3, ge=0, le=10, description="further attempts after a failed POST")
    alert_webhook_timeout_seconds: float = Field(default=5.0, gt=0, description="seconds per webhook attempt")
    alert_webhook_backoff_seconds: float = Field(default=1.0, ge=0,
                                                 description="wait before the first retry, doubled at each next one")


class PerformanceSettings(BaseSettings):
    """Outcomes and the performance runs: schedule, window, alert limits."""

    performance_interval_seconds: int = Field(default=3600, ge=10, description="seconds between performance runs")
    performance_window_days: float = Field(default=90.0, gt=0,
                                           description="scheduled run: applications scored in the last D days")
    performance_max_events: int = Field(default=100_000, ge=1, description="newest applications per run at most")
    performance_cost_margin: float = Field(
        default=0.10, ge=0, description="alert when a cost per application exceeds the reference by this share")
    fairness_min_ratio: float = Field(default=0.8, gt=0, le=1,
                                      description="alert when a disparate-impact ratio falls below (four-fifths)")
    performance_min_applications: int = Field(
        default=500, ge=1, description="applications (with an outcome, for realised figures) an alert needs")
    outcomes_interval_seconds: int = Field(default=10, ge=1,
                                           description="seconds between passes matching waiting outcomes")
    outcome_retry_seconds: float = Field(default=60.0, gt=0,
                                         description="an outcome whose event is not found is retried this long")


class DashboardSettings(BaseSettings):
    """The Dash app (``DASH_*``)."""

    dash_host: str = Field(default="127.0.0.1", description="dashboard bind address (0.0.0.0 in the images)")
    dash_port: int = Field(default=8050, ge=1, le=65535, description="dashboard port")
    dash_refresh_seconds: int = Field(default=30, ge=2, description="auto-refresh period of the pages")
    dashboard_users: str = Field(
        default="", repr=False,
        description="comma-separated name:bcrypt-hash entries allowed into the dashboard (HTTP basic auth)")
    allow_open_dashboard: bool = Field(
        default=False, description="development only: serve the dashboard without a login (production refuses it)")

    @field_validator("dashboard_users")
    @classmethod
    def _users_parse(cls, value: str) -> str:
        from monitoring.dashboard.auth import parse_users

        parse_users(value)  # a malformed entry stops the start, naming the entry (never the hash)
        return value

    def users(self) -> dict[str, bytes]:
        """The dashboard's users: {name: bcrypt hash}."""
        from monitoring.dashboard.auth import parse_users

        return parse_users(self.dashboard_users)


class MonitoringSettings(DashboardSettings, PerformanceSettings, AnomalySettings, DriftSettings, BaseServiceSettings):
    """Drift, anomaly, scheduler and dashboard settings (env var = upper-case field name), read as one object.

    Each group is a class of its own, so that a part that needs one group can say so in its signature.
    """

    retention_interval_seconds: int = Field(default=86_400, ge=60,
                                            description="how often the scheduler deletes indices past RETENTION_DAYS")

    @model_validator(mode="after")
    def _no_open_dashboard_in_production(self) -> MonitoringSettings:
        if self.environment == "production" and self.allow_open_dashboard:
            raise ValueError("ALLOW_OPEN_DASHBOARD=true is refused when ENVIRONMENT=production: set DASHBOARD_USERS")
        return self

    def queue_names(self) -> list[str]:
        """RQ queue names to watch (``RQ_QUEUES``, else ``QUEUE_NAME``)."""
        names = [name.strip() for name in (self.rq_queues or "").split(",") if name.strip()]
        return names or [self.queue_name]
