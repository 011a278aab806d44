"""Redis failover under HTTP load: the gateway, the workers and the indexer follow the new primary.

Run by ``make test-failover`` (its last line is this test's summary), skipped
unless ``REDIS_FAILOVER_TEST=1``. A primary, one replica and three Sentinels
(tests/failover/sentinel_support.py); ``python -m gateway``, ``python -m worker
pool`` (two processes: RQ's WorkerPool rebuilds each child's client) and
``python -m worker indexer`` all configured with ``REDIS_SENTINELS``. Client
threads send ``/v1/score`` and ``/v1/jobs`` all along; the primary is killed
(SIGKILL) and the Sentinels promote the replica. Then: every sync request was
answered (the events of the switch wait in the gateway's spool), every job
the gateway accepted finished, and every accepted request's event is in
Elasticsearch exactly once.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from shared.jobs import STATUS_FIELD, application_key
from shared.store.elastic import ElasticsearchEventStore
from tests.failover.sentinel_support import MASTER_NAME, SentinelSetup
from tests.integration.redis_support import REPO, free_port, stop_session, subprocess_env, wait_for
from tests.integration.test_outage_end_to_end import API_KEY, Load
from tests.utils.data import synthetic_applications
from tests.utils.servers import require_elasticsearch

pytestmark = pytest.mark.integration

if os.environ.get("REDIS_FAILOVER_TEST") != "1":
    pytest.skip("REDIS_FAILOVER_TEST is not 1: run `make test-failover`", allow_module_level=True)

STREAM = "scoring:events"
TIMEOUT_S = 120  # deadlines, not speed checks


@contextlib.contextmanager
def _process(name: str, argv: list[str], env: dict[str, str], logs: Path) -> Iterator[subprocess.Popen[bytes]]:
    with (logs / f"{name}.log").open("wb") as out:
        process = subprocess.Popen([sys.executable, *argv], cwd=REPO, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        stop_session(process, 20)


def _logs(logs: Path) -> str:
    return "\n".join(f"--- {p.name} ---\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(logs.glob("*.log")))


def _job_statuses(client: redis.Redis, job_ids: list[str]) -> Counter[str]:
    """Each submission's status: its own record when the gateway coalesced it into a group job, else its RQ job's."""
    pipe = client.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hget(application_key(job_id), STATUS_FIELD)
        pipe.hget(f"rq:job:{job_id}", "status")
    replies = pipe.execute()
    return Counter((s.decode() if (s := own or rq) else "missing") for own, rq in zip(replies[::2], replies[1::2],
                                                                                         strict=True))


def test_failover_under_load_loses_no_event_and_no_job(tiny_bundle: Path, tmp_path: Path) -> None:
    setup = SentinelSetup(tmp_path / "redis").start()
    store = ElasticsearchEventStore(require_elasticsearch(), f"test-failover-{uuid.uuid4().hex[:8]}")
    logs = tmp_path / "logs"
    logs.mkdir()
    api_port = free_port()
    api = f"http://127.0.0.1:{api_port}"
    common = {"REDIS_SENTINELS": setup.sentinels, "REDIS_MASTER_NAME": MASTER_NAME, "EVENTS_STREAM": STREAM,
              "ES_INDEX_PREFIX": store.prefix, "QUEUE_NAME": "scoring", "JOB_TIMEOUT": 10,
              "ABANDONED_GRACE_S": 2, "MAINTENANCE_INTERVAL_S": 5, "REDIS_TIMEOUT_S": 1}
    url = f"redis://127.0.0.1:{setup.primary_port}/0"  # only its database number is used with Sentinels
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(_process("indexer", ["-m", "worker", "indexer"], subprocess_env(
                url, tiny_bundle, tmp_path, **common, ELASTICSEARCH_URL=store.client.transport.node_pool.get()
                .base_url, INDEXER_BATCH_SIZE=200, INDEXER_BLOCK_MS=200), logs))
            stack.enter_context(_process("worker-pool", ["-m", "worker", "pool", "--processes", "2"],
                                         subprocess_env(url, tiny_bundle, tmp_path, **common), logs))
            stack.enter_context(_process("gateway", ["-m", "gateway"], subprocess_env(
                url, tiny_bundle, tmp_path, **common, API_KEYS=API_KEY, HOST="127.0.0.1", PORT=api_port,
                WEB_CONCURRENCY=1, SPOOL_DIR=tmp_path / "gateway-spool"), logs))
            wait_for(lambda: _ready(api), TIMEOUT_S, what=f"the gateway ready\n{_logs(logs)}")
            load = stack.enter_context(Load(api, synthetic_applications(200, seed=5), ("score", "job"), 4))
            wait_for(lambda: len(load.accepted()) >= 100, TIMEOUT_S, what="100 requests accepted before")

            old = setup.primary()
            sync_before = len(load.accepted("score"))
            killed_at = time.monotonic()
            setup.kill_primary()
            wait_for(lambda: setup.primary() != old, TIMEOUT_S, what="a new primary")
            switch_s = time.monotonic() - killed_at
            sync_during = len(load.accepted("score")) - sync_before
            wait_for(lambda: len(load.accepted("job")) >= 50 + len(load.accepted("job")) // 2, TIMEOUT_S,
                     what=f"jobs accepted after the switch\n{_logs(logs)}")
            load.stop()

            direct = redis.Redis(*setup.primary(), socket_timeout=10)
            sync_ids, job_ids = load.accepted("score"), load.accepted("job")
            wait_for(lambda: _job_statuses(direct, job_ids)["finished"] == len(job_ids), TIMEOUT_S,
                     what=f"every accepted job finished: {_job_statuses(direct, job_ids)}\n{_logs(logs)}")
            refused_sync = [o for o in load.refused() if o.kind == "score"]
            expected = set(sync_ids) | set(job_ids)

            def indexed() -> Counter[str]:
                store.refresh()
                hits = store.client.search(index=store.events_pattern, size=10_000, ignore_unavailable=True,
                                           query={"term": {"status": "ok"}},
                                           source=["path", "request_id", "job_id"])["hits"]["hits"]
                return Counter(h["_source"]["request_id"] if h["_source"]["path"] == "sync"
                               else h["_source"]["job_id"] for h in hits)

            with contextlib.suppress(AssertionError):  # the counts below say what is missing
                wait_for(lambda: set(indexed()) >= expected, TIMEOUT_S, interval=1, what="events indexed")
            found = indexed()
            refused_jobs = [o for o in load.refused() if o.kind == "job"]
            store.refresh()
            failed = [h["_source"] for h in store.client.search(
                index=store.events_pattern, size=10_000, source=["path", "status", "job_id"],
                query={"bool": {"must_not": [{"term": {"status": "ok"}}]}})["hits"]["hits"]]
    finally:
        setup.stop()
        store.drop_all()
        store.close()

    lost = len(expected - set(found))
    duplicated = sum(n - 1 for n in found.values() if n > 1)
    line = (f"failover test: {len(sync_ids)} sync answers ({len(refused_sync)} refused, {sync_during} during the "
            f"switch), {len(job_ids)} jobs accepted ({len(job_ids) - _job_statuses_total(job_ids, found)} lost, "
            f"{len(refused_jobs)} refused with 503 during the switch, "
            f"{len([e for e in failed if e.get('job_id')])} attempts failed and run again), "
            f"{len(expected)} events, {lost} lost, "
            f"{duplicated} duplicated, primary switch {switch_s:.1f} s")
    summary = os.environ.get("FAILOVER_TEST_SUMMARY")
    if summary:
        Path(summary).write_text(line + "\n")
    print(line)
    assert refused_sync == [], f"sync requests refused during the failover: {refused_sync[:5]}"
    assert (lost, duplicated) == (0, 0), line
    assert set(found) == expected, "events in the index that no accepted request made"
    # a refused submission is recorded too, as a failed attempt (one event each, no job id); so is
    # an attempt of an accepted job that failed when the primary died (the job was then run again)
    assert len([e for e in failed if e.get("job_id") is None]) == len(refused_jobs), (failed[:3], refused_jobs[:3])
    assert {e["job_id"] for e in failed if e.get("job_id")} <= set(job_ids), failed


def _job_statuses_total(job_ids: list[str], found: Counter[str]) -> int:
    """Accepted jobs whose event is stored (every one finished: checked above)."""
    return sum(1 for job_id in job_ids if found[job_id] > 0)


def _ready(api: str) -> bool:
    try:
        return httpx.get(f"{api}/health/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
