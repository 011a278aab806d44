"""Anomaly checks on a SQLite store: thresholds, rolling baseline, cooldown, queue backlog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import fakeredis
import pytest

from monitoring.anomalies import AnomalyDetector
from monitoring.queue_probe import QueueProbe
from monitoring.settings import MonitoringSettings
from shared.store.sqlite import SQLiteEventStore
from tests.monitoring.factories import make_applications, make_events

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
APPS = make_applications(60, seed=41)


@pytest.fixture
def anomaly_settings(settings: MonitoringSettings) -> MonitoringSettings:
    return settings.model_copy(update={"anomaly_window_seconds": 300, "anomaly_baseline_windows": 6,
                                       "anomaly_min_events": 20})


def _window(store: SQLiteEventStore, windows_ago: int, n: int = 60, **kwargs) -> None:
    """``n`` events inside the 5-minute window that ends ``windows_ago`` windows before NOW."""
    start = NOW - timedelta(minutes=5 * (windows_ago + 1)) + timedelta(seconds=1)
    events = make_events((APPS * 10)[:n], start=start, spacing=timedelta(seconds=280 / n), seed=windows_ago, **kwargs)
    assert not store.index_events(events).failed


def _steady(store: SQLiteEventStore, windows: int = 6) -> None:
    for ago in range(1, windows + 1):
        _window(store, ago)


def test_quiet_service_raises_nothing(anomaly_settings: MonitoringSettings, store: SQLiteEventStore) -> None:
    _steady(store)
    _window(store, 0)
    assert AnomalyDetector(anomaly_settings, store).run(NOW) == []
    assert store.list_alerts() == []


def test_error_burst_is_critical_and_stored(anomaly_settings: MonitoringSettings, store: SQLiteEventStore) -> None:
    _steady(store)
    _window(store, 0, error_every=5)  # 20 % errors
    alerts = AnomalyDetector(anomaly_settings, store).run(NOW)
    error = next(a for a in alerts if a["metric"] == "error_rate")
    assert error["severity"] == "critical" and error["value"] == pytest.approx(0.2)
    assert error["threshold"] == anomaly_settings.error_rate_max
    assert set(error) >= {"alert_id", "timestamp", "severity", "metric", "window", "value", "threshold",
                          "baseline", "message"}
    assert error["window"]["seconds"] == 300
    assert {a["alert_id"] for a in store.list_alerts()} == {a["alert_id"] for a in alerts}


def test_latency_spike_against_limit_and_baseline(anomaly_settings: MonitoringSettings,
                                                  store: SQLiteEventStore) -> None:
    _steady(store)
    _window(store, 0, latency_ms=40.0)  # ~13x the usual latency, still under the 100 ms sync limit
    raised = AnomalyDetector(anomaly_settings, store).run(NOW)
    latency = [a for a in raised if a["metric"].startswith("latency")]
    assert len(latency) == 1  # one alert for the path, not one per percentile
    p95 = latency[0]
    assert p95["metric"] == "latency_p95" and p95["severity"] == "warning" and p95["path"] == "sync"
    assert p95["value"] > anomaly_settings.anomaly_baseline_factor * p95["baseline"]
    store2_alerts = AnomalyDetector(anomaly_settings.model_copy(update={"latency_p95_max_ms": {"sync": 20.0}}),
                                    store).findings(NOW)
    assert any(f.metric == "latency_p95" and f.severity == "critical" for f in store2_alerts)


def test_one_error_in_a_quiet_window_is_noise(anomaly_settings: MonitoringSettings,
                                               store: SQLiteEventStore) -> None:
    _steady(store)
    _window(store, 0, error_every=50)  # 1 error in 60 (1.7 %): under the limit, and not significant
    assert [f for f in AnomalyDetector(anomaly_settings, store).findings(NOW) if f.metric == "error_rate"] == []


def test_cooldown_skips_repeats(anomaly_settings: MonitoringSettings, store: SQLiteEventStore) -> None:
    _steady(store)
    _window(store, 0, error_every=5)
    detector = AnomalyDetector(anomaly_settings, store)
    first = detector.run(NOW)
    assert first and detector.run(NOW + timedelta(seconds=60)) == []
    cooled = AnomalyDetector(anomaly_settings.model_copy(update={"anomaly_cooldown_seconds": 0}), store)
    assert cooled.run(NOW + timedelta(seconds=60))


def test_traffic_drop_is_a_warning(anomaly_settings: MonitoringSettings, store: SQLiteEventStore) -> None:
    _steady(store)
    _window(store, 0, n=5)
    alerts = AnomalyDetector(anomaly_settings, store).run(NOW)
    drop = next(a for a in alerts if a["metric"] == "throughput")
    assert drop["severity"] == "warning" and "dropped" in drop["message"]
    assert drop["value"] == pytest.approx(1.0)  # 5 events in 5 minutes


def test_empty_store_raises_nothing(anomaly_settings: MonitoringSettings, store: SQLiteEventStore) -> None:
    detector = AnomalyDetector(anomaly_settings, store)
    assert detector.run(NOW) == []
    assert detector.last_measurements["overall"]["events"] == 0


def test_queue_backlog_read_from_a_real_rq_queue(anomaly_settings: MonitoringSettings,
                                                 store: SQLiteEventStore) -> None:
    from rq import Queue

    redis = fakeredis.FakeRedis()
    queue = Queue("scoring", connection=redis)
    for i in range(3):
        queue.enqueue("builtins.print", i)
    probe = QueueProbe(redis, ["scoring", "other"])
    later = datetime.now(UTC) + timedelta(seconds=600)
    stats = {q.name: q for q in probe.measure(later)}
    assert stats["scoring"].depth == 3 and stats["scoring"].oldest_age_s == pytest.approx(600, abs=5)
    assert stats["other"].depth == 0 and stats["other"].oldest_age_s is None
    settings = anomaly_settings.model_copy(update={"queue_depth_max": 2, "queue_age_max_seconds": 60})
    findings = {f.metric: f for f in AnomalyDetector(settings, store, probe).findings(later)}
    assert findings["queue_depth"].severity == "warning" and findings["queue_depth"].path == "scoring"
    assert findings["queue_oldest_age"].severity == "critical"


def test_no_probe_in_embedded_mode(anomaly_settings: MonitoringSettings) -> None:
    assert QueueProbe.from_settings(anomaly_settings) is None
    assert QueueProbe.from_settings(anomaly_settings, fakeredis.FakeRedis()) is not None
