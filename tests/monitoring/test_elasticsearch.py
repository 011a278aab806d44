"""Drift, anomalies and the dashboard's queries on a real Elasticsearch (``make services``), on a fresh prefix."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitoring.anomalies import AnomalyDetector
from monitoring.dashboard.data import DashboardData
from monitoring.drift.run import DriftJob, WindowSpec
from monitoring.queue_probe import QueueProbe
from monitoring.settings import MonitoringSettings
from tests.monitoring.factories import make_applications, make_events
from tests.utils.servers import require_elasticsearch, require_redis

pytestmark = pytest.mark.integration


@pytest.fixture
def es_store() -> Iterator[Any]:
    from shared.store.elastic import ElasticsearchEventStore

    store = ElasticsearchEventStore(require_elasticsearch(), f"test-mon-{uuid.uuid4().hex[:8]}")
    store.drop_all()
    store.setup()
    try:
        yield store
    finally:
        store.drop_all()
        store.close()


def test_drift_anomalies_and_dashboard_on_elasticsearch(settings: MonitoringSettings, es_store: Any,
                                                        fitted_calculator) -> None:
    now = datetime.now(UTC)
    clean = make_events(make_applications(600, seed=71), start=now - timedelta(hours=3), spacing=timedelta(seconds=10))
    recent = make_events(make_applications(600, seed=72, income_factor=1.5), start=now - timedelta(minutes=52),
                         spacing=timedelta(seconds=5), error_every=6)
    assert not es_store.index_events(clean + recent).failed
    es_store.refresh()

    result = DriftJob(settings, es_store, fitted_calculator).run(WindowSpec(last=600), html=False)
    assert result.n_current == 600 and "AMT_INCOME_TOTAL" in result.drifted_features
    assert es_store.list_reports()[0]["report_id"] == result.report_id

    alerts = AnomalyDetector(settings, es_store).run(now)
    assert any(a["metric"] == "error_rate" and a["severity"] == "critical" for a in alerts)
    stored = {a["alert_id"] for a in es_store.list_alerts()}
    assert {a["alert_id"] for a in alerts} <= stored

    data = DashboardData(settings, es_store)
    totals = data.totals("6h")
    assert totals["events"] == 1200 and totals["errors"] == 100
    assert data.latest_report("6h")["report_id"] == result.report_id
    assert sum(c for _, _, c in data.scores("6h")["histogram"]) == 1100


def test_queue_probe_on_real_redis(settings: MonitoringSettings) -> None:
    import redis
    from rq import Queue

    connection = redis.Redis.from_url(require_redis())
    name = f"test-mon-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, connection=connection)
    try:
        queue.enqueue("builtins.print", 1)
        queue.enqueue("builtins.print", 2)
        probe = QueueProbe.from_settings(settings.model_copy(update={"redis_url": require_redis(),
                                                                     "rq_queues": name}))
        assert probe is not None
        (stats,) = probe.measure()
        assert stats.depth == 2 and stats.oldest_age_s is not None and stats.oldest_age_s < 60
    finally:
        queue.delete(delete_jobs=True)
