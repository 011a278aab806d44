"""MonitoringSettings: the limits added for the anomaly checks refuse wrong types and out-of-range values."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from monitoring.settings import MonitoringSettings


@pytest.mark.parametrize(("name", "value", "field"), [
    ("THROUGHPUT_MIN_PER_MIN", "-1", "throughput_min_per_min"),      # out of range
    ("THROUGHPUT_MAX_PER_MIN", "0", "throughput_max_per_min"),       # out of range
    ("THROUGHPUT_MIN_PER_MIN", "lots", "throughput_min_per_min"),    # wrong type
    ("LATENCY_P50_MAX_MS", "50", "latency_p50_max_ms"),              # not the per-path JSON object
    ("LATENCY_P50_MAX_MS", '{"sync": "fast"}', "latency_p50_max_ms"),  # wrong type inside
    ("RQ_KEY_PREFIX", "", "rq_key_prefix"),                           # empty
])
def test_a_bad_limit_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                                   field: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=field):
        MonitoringSettings()


def test_the_limits_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THROUGHPUT_MIN_PER_MIN", "5")
    monkeypatch.setenv("LATENCY_P50_MAX_MS", '{"sync": 20, "async": 500}')
    monkeypatch.setenv("GATEWAY_METRICS_URL", "http://127.0.0.1:8000/metrics")
    settings = MonitoringSettings()
    assert settings.throughput_min_per_min == 5.0
    assert settings.latency_p50_max_ms == {"sync": 20.0, "async": 500.0}
    assert settings.gateway_metrics_url == "http://127.0.0.1:8000/metrics"


def test_the_watched_queue_is_the_services_queue_unless_rq_queues_says_otherwise(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RQ_QUEUES", raising=False)
    monkeypatch.setenv("QUEUE_NAME", "scoring-eu")
    assert MonitoringSettings().queue_names() == ["scoring-eu"]
    monkeypatch.setenv("RQ_QUEUES", "a, b,")
    assert MonitoringSettings().queue_names() == ["a", "b"]


def test_the_groups_read_the_same_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"DRIFT_MIN_ROWS": "7", "ANOMALY_MIN_EVENTS": "3", "DASH_PORT": "9001",
                        "REPORTS_DIR": "var/r"}.items():
        monkeypatch.setenv(name, value)
    settings = MonitoringSettings()
    assert (settings.drift_min_rows, settings.anomaly_min_events, settings.dash_port) == (7, 3, 9001)
    assert str(settings.reports_dir) == "var/r"
