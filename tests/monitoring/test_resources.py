"""The resource sampler (fake Redis and Elasticsearch) and the resource anomaly rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from monitoring.resource_rules import MIB, ResourceLimits, ResourceRules
from monitoring.resources import ResourceSampler
from shared.store.sqlite import SQLiteEventStore

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


class FakeRedis:
    def info(self) -> dict[str, Any]:
        return {"used_memory": 2_000_000, "used_memory_rss": 3_000_000, "maxmemory": 0, "connected_clients": 7,
                "instantaneous_ops_per_sec": 120, "used_cpu_sys": 1.5, "used_cpu_user": 2.25}


class FakeElasticsearch:
    def __init__(self, heap: int = 40, available: int = 600) -> None:
        node = {"name": "node-1", "jvm": {"mem": {"heap_used_in_bytes": 4, "heap_max_in_bytes": 10,
                                                  "heap_used_percent": heap}},
                "process": {"cpu": {"percent": 12}}, "os": {"cpu": {"percent": 30}},
                "fs": {"total": {"total_in_bytes": 1000, "available_in_bytes": available}}}
        self.nodes = SimpleNamespace(stats=lambda metric: SimpleNamespace(body={"nodes": {"abc": node}}))


def test_one_round_covers_process_host_redis_and_each_node(store: SQLiteEventStore) -> None:
    sampler = ResourceSampler(store, redis=FakeRedis(), elasticsearch=FakeElasticsearch(), multiproc_dir="")
    docs = sampler.run(NOW)
    by_kind = {d["kind"]: d for d in docs}
    assert set(by_kind) == {"process", "host", "redis", "elasticsearch"}
    assert by_kind["process"]["service"] == "scheduler" and by_kind["process"]["rss_bytes"] > 0
    assert by_kind["redis"]["cpu_seconds"] == 3.75 and by_kind["redis"]["maxmemory_bytes"] is None
    node = by_kind["elasticsearch"]
    assert node["node"] == "node-1" and node["heap_percent"] == 40 and node["disk_used_percent"] == 40.0
    assert "gpu" not in str(docs).lower()
    assert len(store.list_resources()) == 4


def test_a_server_that_fails_leaves_a_gap_not_a_failed_round(store: SQLiteEventStore) -> None:
    class Down:
        def info(self) -> dict[str, Any]:
            raise ConnectionError("refused")

    docs = ResourceSampler(store, redis=Down(), multiproc_dir="").collect(NOW)
    assert {d["kind"] for d in docs} == {"process", "host"}


def _process(minute: int, rss_mib: float, pid: int = 7) -> dict[str, Any]:
    moment = NOW - timedelta(minutes=60 - minute)
    return {"sample_id": f"p-{pid}-{minute}", "timestamp": moment.isoformat(), "kind": "process",
            "service": "worker", "pid": pid, "rss_bytes": int(rss_mib * MIB), "cpu_percent": 5.0}


def _host(minute: int, cpu: float) -> dict[str, Any]:
    moment = NOW - timedelta(minutes=60 - minute)
    return {"sample_id": f"h-{minute}", "timestamp": moment.isoformat(), "kind": "host", "cpu_percent": cpu}


def _node(heap: float, disk: float) -> dict[str, Any]:
    return {"sample_id": f"es-{heap}-{disk}", "timestamp": NOW.isoformat(), "kind": "elasticsearch",
            "node": "n1", "heap_percent": heap, "disk_used_percent": disk}


def test_memory_growth_against_the_baseline_and_the_limit(store: SQLiteEventStore) -> None:
    rules = ResourceRules(store)
    history = [_process(m, 200) for m in range(10)]
    assert rules.findings([_process(60, 250)], history) == []  # +25 %: within the factor
    [growth] = rules.findings([_process(60, 400)], history)
    assert (growth.metric, growth.severity, growth.baseline) == ("memory_growth", "warning", 200 * MIB)
    [limit] = rules.findings([_process(60, 2100)], history)
    assert limit.severity == "critical" and limit.threshold == ResourceLimits().process_memory_max_bytes
    assert rules.findings([_process(60, 400)], history[:3]) == []  # too few samples for a baseline


def test_cpu_saturation_needs_several_samples_over_the_limit(store: SQLiteEventStore) -> None:
    rules = ResourceRules(store)
    busy = [_host(m, 97) for m in range(56, 60)]
    [finding] = rules.findings([_host(60, 99)], busy)
    assert finding.metric == "cpu_saturation" and finding.value >= 90
    assert rules.findings([_host(60, 99)], busy[:2]) == []  # one busy minute is not saturation
    assert rules.findings([_host(60, 99)], [_host(m, 20) for m in range(56, 60)]) == []


@pytest.mark.parametrize(("heap", "disk", "expected"), [
    (50, 50, set()),
    (86, 50, {("es_heap", "warning")}),
    (96, 50, {("es_heap", "critical")}),
    (50, 86, {("disk_watermark", "warning")}),
    (50, 91, {("disk_watermark", "critical")}),
])
def test_elasticsearch_heap_and_disk_watermarks(store: SQLiteEventStore, heap: float, disk: float,
                                                expected: set[tuple[str, str]]) -> None:
    assert {(f.metric, f.severity) for f in ResourceRules(store).findings([_node(heap, disk)], [])} == expected


def test_alerts_are_stored_once_per_cooldown(store: SQLiteEventStore) -> None:
    rules = ResourceRules(store)
    store.save_resources([_process(m, 200) for m in range(10)])
    current = [_process(60, 400)]
    store.save_resources(current)
    [alert] = rules.run(current, NOW)
    assert alert["metric"] == "memory_growth" and alert["subject"] == "worker/7"
    assert rules.run(current, NOW + timedelta(minutes=1)) == []
    assert [a["metric"] for a in store.list_alerts()] == ["memory_growth"]
