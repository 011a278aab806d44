"""Anomaly checks on a SQLite store: thresholds, rolling baseline, cooldown, queue backlog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import fakeredis
import pytest

from monitoring.anomalies import AnomalyDetector
from monitoring.exceptions import QueueProbeError
from monitoring.queue_probe import QueueProbe, QueueStats
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


def test_latency_p50_has_its_own_limit(anomaly_settings: MonitoringSettings, store: SQLiteEventStore) -> None:
    _steady(store)
    _window(store, 0, latency_ms=40.0)  # p50 about 40 ms: under the p95/p99 limits, over a 30 ms p50 limit
    settings = anomaly_settings.model_copy(update={"latency_p50_max_ms": {"sync": 30.0}})
    latency = [f for f in AnomalyDetector(settings, store).findings(NOW) if f.metric.startswith("latency")]
    assert [(f.metric, f.severity, f.threshold) for f in latency] == [("latency_p50", "critical", 30.0)]
    assert latency[0].value > 30.0 and latency[0].baseline is not None


def test_throughput_limits_apart_from_the_baseline(anomaly_settings: MonitoringSettings,
                                                   store: SQLiteEventStore) -> None:
    _steady(store)
    _window(store, 0, n=5)  # 1/min: a drop against the baseline (warning) ...
    floor = anomaly_settings.model_copy(update={"throughput_min_per_min": 5.0})
    (low,) = [f for f in AnomalyDetector(floor, store).findings(NOW) if f.metric == "throughput"]
    assert (low.severity, low.value, low.threshold) == ("critical", pytest.approx(1.0), 5.0)  # ... under the minimum
    assert low.baseline == pytest.approx(12.0)
    ceiling = anomaly_settings.model_copy(update={"throughput_max_per_min": 10.0})
    (high,) = [f for f in AnomalyDetector(ceiling, store).findings(NOW - timedelta(minutes=5))
               if f.metric == "throughput"]  # 12/min, as usual, but over the 10/min capacity
    assert (high.severity, high.value, high.threshold) == ("warning", pytest.approx(12.0), 10.0)


def test_minimum_throughput_needs_no_history(anomaly_settings: MonitoringSettings, store: SQLiteEventStore) -> None:
    settings = anomaly_settings.model_copy(update={"throughput_min_per_min": 1.0})
    (silent,) = AnomalyDetector(settings, store).findings(NOW)
    assert (silent.metric, silent.severity, silent.value, silent.baseline) == ("throughput", "critical", 0.0, 0.0)


def test_default_limits_stay_quiet_on_normal_traffic(anomaly_settings: MonitoringSettings,
                                                     store: SQLiteEventStore) -> None:
    _steady(store)
    _window(store, 0, n=60, latency_ms=20.0)  # p50 about 20 ms: a busy but normal sync window
    defaults = MonitoringSettings()
    assert defaults.throughput_min_per_min == 0 and defaults.latency_p50_max_ms == {"sync": 50.0, "async": 1000.0}
    settings = anomaly_settings.model_copy(update={"anomaly_baseline_factor": 100.0})  # limits only
    assert AnomalyDetector(settings, store).findings(NOW) == []


class ScriptedProbe:
    """A queue probe answering the readings it is given, one per check."""

    def __init__(self, readings: list[tuple[int, float | None]]) -> None:
        self.readings = list(readings)

    def measure(self, now: datetime | None = None) -> list[QueueStats]:
        depth, age = self.readings.pop(0)
        return [QueueStats("scoring", depth, age)]


def _queue_findings(detector: AnomalyDetector, minutes_ago: list[int]) -> list[list]:
    return [[f for f in detector.findings(NOW - timedelta(minutes=m)) if f.metric.startswith("queue")]
            for m in minutes_ago]


def test_queue_backlog_against_its_baseline(anomaly_settings: MonitoringSettings, store: SQLiteEventStore) -> None:
    # a queue that usually holds a few jobs, checked once a minute, then 150 jobs waiting 40 s: both under their
    # limits (1000 jobs, 60 s) but far over the usual backlog
    readings = [(5, 1.0), (0, None), (8, 2.0), (4, 1.0), (6, 1.5), (0, None)] * 3 + [(150, 40.0)]
    detector = AnomalyDetector(anomaly_settings, store, ScriptedProbe(readings))
    *before, last = _queue_findings(detector, list(range(len(readings) - 1, -1, -1)))
    assert all(found == [] for found in before)
    by_metric = {f.metric: f for f in last}
    assert set(by_metric) == {"queue_depth", "queue_oldest_age"}
    depth, age = by_metric["queue_depth"], by_metric["queue_oldest_age"]
    assert (depth.severity, depth.value, depth.threshold, depth.path) == ("warning", 150, 1000, "scoring")
    assert depth.baseline == 8  # median over the previous windows of each window's peak reading
    assert (age.severity, age.value) == ("warning", 40.0) and age.baseline == 2.0
    assert detector.last_measurements["queues"][0]["baseline_depth"] == 8


def test_queue_baseline_waits_for_history_and_a_floor(anomaly_settings: MonitoringSettings,
                                                      store: SQLiteEventStore) -> None:
    fresh = AnomalyDetector(anomaly_settings, store, ScriptedProbe([(150, 40.0)]))
    assert _queue_findings(fresh, [0]) == [[]]  # no readings yet: limits only
    short = AnomalyDetector(anomaly_settings, store, ScriptedProbe([(0, None), (0, None), (150, 40.0)]))
    assert _queue_findings(short, [10, 5, 0])[-1] == []  # readings in 2 previous windows: not a baseline yet
    readings = [(0, None)] * 18 + [(60, 5.0)]  # an idle queue, then 60 jobs for 5 s: under the floors
    idle = AnomalyDetector(anomaly_settings, store, ScriptedProbe(readings))
    assert _queue_findings(idle, list(range(len(readings) - 1, -1, -1)))[-1] == []


def test_an_unreadable_queue_does_not_stop_the_other_checks(anomaly_settings: MonitoringSettings,
                                                            store: SQLiteEventStore) -> None:
    class DownProbe:
        def measure(self, now: datetime | None = None) -> list[QueueStats]:
            raise QueueProbeError("queues not readable from Redis: connection refused")

    _steady(store)
    _window(store, 0, error_every=5)
    detector = AnomalyDetector(anomaly_settings, store, DownProbe())  # type: ignore[arg-type]
    assert any(f.metric == "error_rate" for f in detector.findings(NOW))
    assert detector.last_measurements["queues"].startswith("not measured (queues not readable")


def test_rq_key_prefix_is_a_setting(anomaly_settings: MonitoringSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    from rq import Queue

    redis = fakeredis.FakeRedis()
    Queue("scoring", connection=redis).enqueue("builtins.print", 1)
    redis.rename("rq:queue:scoring", "tenant:queue:scoring")  # as a deployment with its own RQ namespace keeps it
    for key in redis.keys("rq:job:*"):
        redis.rename(key, key.replace(b"rq:", b"tenant:", 1))
    monkeypatch.setenv("RQ_KEY_PREFIX", "tenant")
    settings = MonitoringSettings(model_dir=anomaly_settings.model_dir)
    assert settings.rq_key_prefix == "tenant"
    probe = QueueProbe.from_settings(settings, redis)
    assert isinstance(probe, QueueProbe)
    (stats,) = probe.measure()
    assert stats.depth == 1 and stats.oldest_age_s is not None


def test_events_recorded_as_lost_in_the_window_are_a_critical_alert(anomaly_settings: MonitoringSettings,
                                                                     store: SQLiteEventStore) -> None:
    from shared.publisher import LOST_SUFFIX, record_loss

    _steady(store)
    redis = fakeredis.FakeRedis()
    stream = anomaly_settings.events_stream + LOST_SUFFIX
    ms = int(NOW.timestamp() * 1000)
    redis.xadd(stream, {"count": "7", "source": "indexer", "reason": "old"}, id=f"{ms - 3_600_000}-0")  # an hour ago
    detector = AnomalyDetector(anomaly_settings, store, QueueProbe(redis, ["scoring"]))
    assert [a for a in detector.run(NOW) if a["metric"] == "events_lost"] == []  # outside the window
    redis.xadd(stream, {"count": "2", "source": "indexer", "reason": "trimmed before read"}, id=f"{ms - 60_000}-0")
    redis.xadd(stream, {"count": "3", "source": "publisher", "reason": "spool full"}, id=f"{ms - 1_000}-0")
    (alert,) = [a for a in detector.run(NOW) if a["metric"] == "events_lost"]
    assert alert["severity"] == "critical" and alert["value"] == 5
    assert "trimmed before read" in alert["message"] and "spool full" in alert["message"]
    record_loss(redis, anomaly_settings.events_stream, 1, "publisher", "spool full")  # the writers' own format
    now = datetime.now(UTC)
    assert [f.value for f in detector.findings(now) if f.metric == "events_lost"] == [1.0]


def test_lost_events_are_not_measured_without_redis(anomaly_settings: MonitoringSettings,
                                                    store: SQLiteEventStore) -> None:
    detector = AnomalyDetector(anomaly_settings, store, None)
    detector.run(NOW)
    assert detector.last_measurements["events_lost"] == "not measured (no REDIS_URL)"


def test_wilson_interval_is_honest_on_small_counts() -> None:
    from monitoring.drift.checks import wilson_interval

    low, high = wilson_interval(1, 25)
    assert 0.005 < low < 0.01 and 0.18 < high < 0.2  # 4 % measured, anywhere from 0.7 % to 19.5 %
    assert wilson_interval(0, 50)[0] == 0.0 and wilson_interval(50, 50)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)
    narrow, wide = wilson_interval(50, 1000), wilson_interval(5, 100)
    assert narrow[0] > wide[0] and narrow[1] < wide[1]  # same 5 %, more events: a tighter interval


@pytest.mark.parametrize(("n", "error_every", "alerted"), [
    (25, 25, False),   # 1 error in 25 (4 %, twice the 2 % limit): one event, the screenshot's false alarm
    (47, 47, False),   # 1 in 47
    (60, 15, False),   # 4 in 60 (6.7 %): under the minimum of 5 bad events
    (400, 80, False),  # 5 in 400 (1.25 %): the minimum, but under the limit
    (250, 40, False),  # 6 in 250 (2.4 %): over the limit, but its 95 % lower bound (1.1 %) is not
    (100, 10, True),   # 10 in 100: lower bound 5.5 % > 2 %
    (60, 5, True),     # 12 in 60 (20 %)
])
def test_an_error_rate_alert_needs_enough_errors_and_a_lower_bound_over_the_limit(
        anomaly_settings: MonitoringSettings, store: SQLiteEventStore, n: int, error_every: int,
        alerted: bool) -> None:
    quiet = anomaly_settings.model_copy(update={"anomaly_baseline_windows": 1})
    _window(store, 0, n=n, error_every=error_every)
    errors = [f for f in AnomalyDetector(quiet, store).findings(NOW) if f.metric == "error_rate"]
    assert bool(errors) is alerted
    if alerted:
        assert errors[0].severity == "critical" and "95 % interval" in errors[0].message


def test_the_minimum_of_bad_events_is_a_setting(anomaly_settings: MonitoringSettings,
                                                store: SQLiteEventStore) -> None:
    _window(store, 0, n=60, error_every=15)  # 4 errors in 60
    assert not [f for f in AnomalyDetector(anomaly_settings, store).findings(NOW) if f.metric == "error_rate"]
    lowered = anomaly_settings.model_copy(update={"anomaly_min_bad_events": 4})
    assert [f for f in AnomalyDetector(lowered, store).findings(NOW) if f.metric == "error_rate"]
