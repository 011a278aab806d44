"""Coalesced single applications on a real Redis: a worker killed in the middle of a group job loses none."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from fastapi.testclient import TestClient
from rq import Queue, Worker

from gateway.app import create_app
from shared.event import job_event_id
from shared.jobs import JOB_SERIALIZER, application_key
from tests.integration.redis_support import (
    HEADERS,
    REPO,
    gateway_settings,
    redis_database,
    stop_session,
    subprocess_env,
    wait_for,
)
from tests.utils.data import synthetic_applications
from worker.tasks import LOADS_KEY

pytestmark = pytest.mark.integration
SLOW = "slow-scoring"


@pytest.fixture
def kill_db() -> Iterator[str]:
    with redis_database("kill") as url:
        yield url


def _submit_together(gateway: TestClient, count: int, seed: int) -> list[str]:
    """``count`` single applications submitted at the same moment (one group job), their job ids."""
    jobs = gateway.app.state.resources.jobs  # type: ignore[attr-defined]
    bodies = [orjson.dumps(a) for a in synthetic_applications(count, seed=seed)]

    async def together() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(jobs.submit(body, f"req-{seed}-{i}") for i, body in enumerate(bodies))))

    return [answer["job_id"] for answer in gateway.portal.call(together)]  # type: ignore[union-attr]


def _kill_the_worker_inside(client: redis.Redis, ids: list[str]) -> str:
    """SIGKILL the pool process running the group job of ``ids`` (blocked in its first scoring)."""
    group = client.hget(application_key(ids[0]), "group").decode()  # type: ignore[union-attr]
    assert {client.hget(application_key(i), "group") for i in ids} == {group.encode()}  # one group job
    wait_for(lambda: client.get(f"{SLOW}:inside") == group.encode(), 30, what=f"group {group} being scored")
    queue = Queue("scoring", connection=client, serializer=JOB_SERIALIZER)

    def busy_pid() -> int | None:
        return next((w.pid for w in Worker.all(queue=queue) if w.get_current_job_id() == group and w.pid), None)

    os.kill(wait_for(busy_pid, 10, what="the busy worker registered"), signal.SIGKILL)
    return group


def _status(gateway: TestClient, job_id: str) -> dict[str, Any]:
    response = gateway.get(f"/v1/jobs/{job_id}", headers=HEADERS)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_worker_killed_mid_group_loses_no_application(kill_db: str, tiny_bundle: Path, tmp_path: Path) -> None:
    client = redis.Redis.from_url(kill_db)
    env = subprocess_env(kill_db, tiny_bundle, tmp_path, MAINTENANCE_INTERVAL_S=1, ABANDONED_GRACE_S=1,
                         SLOW_SCORING_KEY=SLOW)
    common = {"job_timeout": 3, "job_retry_intervals": [0], "job_linger_ms": 200}
    retrying = gateway_settings(kill_db, tiny_bundle, tmp_path, job_retries=1, **common)
    failing = gateway_settings(kill_db, tiny_bundle, tmp_path, job_retries=0, **common)
    log = tmp_path / "pool.log"
    with log.open("wb") as out:
        pool = subprocess.Popen([sys.executable, "-m", "slow_scoring", "pool", "--processes", "1"], cwd=REPO,
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: int(client.get(LOADS_KEY) or 0) == 1, 60, what="the worker loaded its scorer")
        with TestClient(create_app(retrying)) as gateway:
            # with a retry left: the abandoned group is queued again, every application finishes
            retried = _submit_together(gateway, 3, seed=41)
            _kill_the_worker_inside(client, retried)
            wait_for(lambda: all(_status(gateway, i)["status"] == "finished" for i in retried), 60,
                     what="every application of the retried group finished")
            results = [_status(gateway, i)["result"] for i in retried]
        with TestClient(create_app(failing)) as gateway:
            # without a retry: every application ends failed, and its GET says why
            lost = _submit_together(gateway, 2, seed=42)
            _kill_the_worker_inside(client, lost)
            wait_for(lambda: all(_status(gateway, i)["status"] == "failed" for i in lost), 60,
                     what="every application of the abandoned group failed")
            answers = [_status(gateway, i) for i in lost]
            stream = gateway.app.state.resources.settings.events_stream  # type: ignore[attr-defined]
    finally:
        stop_session(pool, 15)
    assert [r["event_id"] for r in results] == [job_event_id(i, 0) for i in retried]
    assert all(a["reason"].startswith("AbandonedJobError") for a in answers), answers
    events = [orjson.loads(fields[b"event"]) for _, fields in client.xrange(stream)]
    ok = [e["job_id"] for e in events if e["status"] == "ok"]
    assert sorted(ok) == sorted(retried)  # one "ok" event per retried application, none for the lost ones
    errors = {(e["job_id"], e["error_type"]) for e in events if e["status"] == "error"}
    assert errors == {(i, "AbandonedJobError") for i in retried + lost}
    assert int(client.get(LOADS_KEY)) == 3, log.read_text()[-3000:]  # the killed workers were replaced
