"""Embedded mode: the scheduler's process reads the gateway's in-process queue through its /metrics."""

from __future__ import annotations

import socket
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from monitoring.__main__ import main
from monitoring.anomalies import AnomalyDetector
from monitoring.exceptions import QueueProbeError
from monitoring.queue_probe import GatewayMetricsProbe, QueueProbe, parse_gauges
from monitoring.settings import MonitoringSettings
from shared.schema import example_application
from shared.store.sqlite import SQLiteEventStore
from tests.utils.waiting import wait_until

API_KEY = "test-key-queue-probe"


@pytest.fixture(scope="module")
def idle_gateway(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An embedded-mode gateway served by uvicorn on a free port, without its worker thread (jobs stay queued).

    Shared by the module's tests: each one counts the jobs it adds.
    """
    tmp_path = tmp_path_factory.mktemp("idle-gateway")
    import uvicorn

    from gateway.app import create_app
    from gateway.settings import GatewaySettings

    settings = GatewaySettings(
        redis_url=None, elasticsearch_url=None, environment="development", model_dir=tiny_bundle,
        api_keys=API_KEY, spool_dir=tmp_path / "spool", sqlite_path=tmp_path / "gateway.sqlite3",
        embedded_worker=False, embedded_indexer=False, access_log=False,
        pseudonymisation_key="test-pseudonymisation-key",
    )
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_config=None,
                                           access_log=False))
    thread = threading.Thread(target=server.run, name="test-gateway", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), timeout=60)
        assert server.started, "the gateway did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def _submit(base: str) -> None:
    request = urllib.request.Request(f"{base}/v1/jobs", data=orjson.dumps(example_application()), method="POST",
                                     headers={"X-API-Key": API_KEY, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202


def test_the_scheduler_reads_the_embedded_queue_from_the_gateway(idle_gateway: str, settings: MonitoringSettings,
                                                                 store: SQLiteEventStore) -> None:
    settings = settings.model_copy(update={"gateway_metrics_url": f"{idle_gateway}/metrics", "queue_depth_max": 2})
    probe = QueueProbe.from_settings(settings)
    assert isinstance(probe, GatewayMetricsProbe)
    (before,) = probe.measure()
    assert before.name == "scoring"
    assert before.oldest_age_s is None if before.depth == 0 else before.oldest_age_s is not None
    for _ in range(3):
        _submit(idle_gateway)
    (backlog,) = probe.measure()
    assert backlog.depth == before.depth + 3 and backlog.oldest_age_s is not None and backlog.oldest_age_s >= 0
    findings = AnomalyDetector(settings, store, probe).findings(datetime.now(UTC))
    (depth,) = [f for f in findings if f.metric == "queue_depth"]
    assert (depth.value, depth.threshold, depth.path) == (backlog.depth, 2, "scoring")


def test_the_anomalies_command_checks_the_embedded_queue(idle_gateway: str, settings: MonitoringSettings,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture) -> None:
    _submit(idle_gateway)
    for name, value in {"MODEL_DIR": settings.model_dir, "SQLITE_PATH": settings.sqlite_path,
                        "GATEWAY_METRICS_URL": f"{idle_gateway}/metrics", "QUEUE_DEPTH_MAX": 0}.items():
        monkeypatch.setenv(name, str(value))
    assert main(["anomalies", "--json"]) == 0
    alerts = orjson.loads(capsys.readouterr().out)["alerts"]
    assert [(a["metric"], a["path"]) for a in alerts] == [("queue_depth", "scoring")]


def test_an_unreachable_gateway_is_a_probe_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on once this socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(QueueProbeError, match="gateway metrics not readable"):
        GatewayMetricsProbe(f"http://127.0.0.1:{port}/metrics", "scoring", timeout=2).measure()


def test_without_redis_or_gateway_url_nothing_is_measured(settings: MonitoringSettings) -> None:
    assert settings.redis_url is None and settings.gateway_metrics_url is None
    assert QueueProbe.from_settings(settings) is None
    with_redis = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0",
                                             "gateway_metrics_url": "http://127.0.0.1:8000/metrics"})
    assert isinstance(QueueProbe.from_settings(with_redis), QueueProbe)  # Redis sees every queue: it wins


def test_parse_gauges_reads_unlabelled_values_only() -> None:
    text = ("# HELP gateway_queue_depth queue depth\n# TYPE gateway_queue_depth gauge\ngateway_queue_depth 4.0\n"
            'gateway_requests_total{route="/v1/score"} 9.0\ngateway_queue_depth_other 7.0\n')
    assert parse_gauges(text, ["gateway_queue_depth", "gateway_queue_oldest_age_seconds"]) == {
        "gateway_queue_depth": 4.0}


def test_parse_gauges_refuses_what_is_not_prometheus_text() -> None:
    with pytest.raises(ValueError):
        parse_gauges("<html><body>Not found</body></html>", ["gateway_queue_depth"])
