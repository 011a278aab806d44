"""The indexer against a three-node Elasticsearch cluster that loses a node under load.

Run by ``make test-cluster`` (scripts/test_cluster.sh starts the cluster of
scripts/es_cluster.sh and sets ``ES_CLUSTER_URL``); skipped otherwise. Events
are written to a Redis Stream at a steady rate and indexed by ``python -m
worker indexer`` into indices with one replica per shard. One node holding a
copy of the events index is stopped: the cluster must go yellow and the
indexer keep storing; the node is started again; then every event must be
stored exactly once and the cluster green. The summary line goes to
``CLUSTER_TEST_SUMMARY`` (a file) for the make target to print last.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis as redis_lib
from elasticsearch import Elasticsearch

from tests.utils.events import make_event
from tests.utils.servers import require_redis
from tests.utils.waiting import wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CLUSTER = os.environ.get("ES_CLUSTER_URL", "")
SCRIPT = REPO / "scripts" / "es_cluster.sh"
RATE = float(os.environ.get("CLUSTER_TEST_RATE", "300"))  # events per second written to the stream
PORTS = {"node-1": 9201, "node-2": 9202, "node-3": 9203}

if not CLUSTER:
    pytest.skip("ES_CLUSTER_URL is not set: run `make test-cluster`", allow_module_level=True)


class Producer:
    """Writes distinct events to the stream at ``rate`` per second until stopped; keeps their ids."""

    def __init__(self, client: redis_lib.Redis, stream: str, rate: float) -> None:
        self.client, self.stream, self.rate = client, stream, rate
        self.ids: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="producer", daemon=True)
        self.template = make_event()

    def _run(self) -> None:
        start, batch = time.monotonic(), max(1, int(self.rate / 10))
        while not self.stop.is_set():
            pipe = self.client.pipeline(transaction=False)
            for _ in range(batch):
                event_id = uuid.uuid4().hex
                pipe.xadd(self.stream, {"event": orjson.dumps({**self.template, "event_id": event_id})})
                self.ids.append(event_id)
            pipe.execute()
            pause = start + len(self.ids) / self.rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)


def _es(port: int) -> Elasticsearch:
    return Elasticsearch(f"http://127.0.0.1:{port}", request_timeout=30)


def _health(es: Elasticsearch) -> dict[str, Any]:
    return dict(es.cluster.health())


def _count(es: Elasticsearch, prefix: str) -> int:
    es.indices.refresh(index=f"{prefix}-events-*")
    return int(es.count(index=f"{prefix}-events-*")["count"])


def _stored_ids(es: Elasticsearch, prefix: str) -> dict[str, int]:
    """Every stored event id with its number of documents (a composite aggregation, page by page)."""
    es.indices.refresh(index=f"{prefix}-events-*")
    found: dict[str, int] = {}
    after: dict[str, Any] | None = None
    while True:
        composite: dict[str, Any] = {"size": 10_000, "sources": [{"id": {"terms": {"field": "event_id"}}}]}
        if after:
            composite["after"] = after
        body = es.search(index=f"{prefix}-events-*", size=0, aggs={"ids": {"composite": composite}})
        agg = body["aggregations"]["ids"]
        for bucket in agg["buckets"]:
            found[bucket["key"]["id"]] = bucket["doc_count"]
        after = agg.get("after_key")
        if not agg["buckets"] or after is None:
            return found


def _victim(es: Elasticsearch, prefix: str) -> str:
    """A node holding a copy of the events index, the elected master only if no other does."""
    holders = {row["node"] for row in es.cat.shards(index=f"{prefix}-events-*", format="json")
               if row.get("node")}
    master = es.cat.master(format="json")[0]["node"]
    others = sorted(holders - {master})
    return others[0] if others else master


def _cluster_script(*args: str) -> None:
    subprocess.run(["bash", str(SCRIPT), *args], check=True, cwd=REPO, stdin=subprocess.DEVNULL, timeout=300)


@pytest.fixture
def names() -> Iterator[tuple[str, str]]:
    """A fresh stream and index prefix; both dropped after."""
    run = uuid.uuid4().hex[:8]
    stream, prefix = f"test:cluster:{run}", f"cluster{run}"
    yield stream, prefix
    redis_lib.Redis.from_url(require_redis()).delete(stream, f"{stream}:dead", f"{stream}:lost")
    es = _es(9201)
    for index in es.cat.indices(index=f"{prefix}-*", format="json", h="index"):
        es.indices.delete(index=index["index"])
    es.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}-events")


def test_the_indexer_goes_on_while_a_node_is_down_and_loses_nothing(names: tuple[str, str], tmp_path: Path) -> None:
    stream, prefix = names
    redis_url = require_redis()
    es = _es(9201)
    assert _health(es)["number_of_nodes"] == 3, "run scripts/es_cluster.sh start first"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS_MULTIPROC_DIR")}
    env.update({"PYTHONPATH": str(REPO), "REDIS_URL": redis_url, "ELASTICSEARCH_URL": CLUSTER,
                "ES_INDEX_PREFIX": prefix, "ES_NUMBER_OF_REPLICAS": "1", "EVENTS_STREAM": stream,
                "INDEXER_BATCH_SIZE": "500", "LOG_LEVEL": "INFO"})
    log = tmp_path / "indexer.log"
    producer = Producer(redis_lib.Redis.from_url(redis_url), stream, RATE)
    with log.open("wb") as out:
        indexer = subprocess.Popen([sys.executable, "-m", "worker", "indexer"], cwd=REPO, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    victim = ""
    try:
        producer.thread.start()
        wait_until(lambda: _count(es, prefix) >= RATE * 5, timeout=120, interval=1)
        settings = es.indices.get_settings(index=f"{prefix}-events-*")
        assert {s["settings"]["index"]["number_of_replicas"] for s in settings.values()} == {"1"}
        wait_until(lambda: _health(es)["status"] == "green", timeout=120, interval=0.5)

        victim = _victim(es, prefix)
        survivor = _es(next(port for node, port in PORTS.items() if node != victim))
        down_at = time.monotonic()
        _cluster_script("stop-node", victim[-1])
        wait_until(lambda: _health(survivor)["status"] == "yellow", timeout=60, interval=0.5)
        before = _count(survivor, prefix)
        wait_until(lambda: _count(survivor, prefix) >= before + RATE * 5, timeout=90, interval=1)
        assert indexer.poll() is None, f"the indexer exited: {log.read_text()[-2000:]}"

        _cluster_script("start-node", victim[-1])
        wait_until(lambda: _health(survivor)["number_of_nodes"] == 3, timeout=180, interval=0.5)
        down_s = time.monotonic() - down_at
        producer.stop.set()
        producer.thread.join(10)
        sent = len(producer.ids)
        wait_until(lambda: _count(survivor, prefix) >= sent, timeout=120, interval=1)
        wait_until(lambda: _health(survivor)["status"] == "green", timeout=180, interval=1)
        stored = _stored_ids(survivor, prefix)
    finally:
        producer.stop.set()
        indexer.terminate()
        try:
            indexer.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(indexer.pid, 9)
            indexer.wait(5)
        if victim:
            _cluster_script("start-node", victim[-1])  # the cluster is left whole for the next run

    lost = len(set(producer.ids) - stored.keys())
    duplicated = sum(count - 1 for count in stored.values()) + len(stored.keys() - set(producer.ids))
    assert redis_lib.Redis.from_url(redis_url).xlen(f"{stream}:dead") == 0
    line = f"cluster test: {sent} events, {lost} lost, {duplicated} duplicated, node down {down_s:.0f} s"
    summary = os.environ.get("CLUSTER_TEST_SUMMARY")
    if summary:
        Path(summary).write_text(line + "\n")
    print(line)
    assert (lost, duplicated) == (0, 0), line
