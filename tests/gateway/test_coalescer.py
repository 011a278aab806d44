"""Coalescing of single-application jobs: grouping, options apart, linger, maximum size, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from rq import Queue
from rq.job import Job

from gateway.services.coalescer import Coalescer
from shared.jobs import JOB_SERIALIZER, SCORE_GROUP_JOB, application_key
from tests.utils.data import synthetic_applications

# --- the coalescer alone ------------------------------------------------------------------


class Recorder:
    """A ``send`` that records each group it is given (and can fail)."""

    def __init__(self, error: Exception | None = None) -> None:
        self.groups: list[tuple[Hashable, list[Any]]] = []
        self.error = error

    async def __call__(self, key: Hashable, items: list[Any]) -> None:
        self.groups.append((key, list(items)))
        if self.error is not None:
            raise self.error


def test_items_submitted_together_are_sent_as_one_group() -> None:
    async def scenario() -> Recorder:
        send = Recorder()
        coalescer = Coalescer(send, linger_s=0.05, max_size=10)
        await asyncio.gather(*(coalescer.submit("k", i) for i in range(5)))
        return send

    assert asyncio.run(scenario()).groups == [("k", [0, 1, 2, 3, 4])]


def test_items_with_other_options_are_grouped_apart() -> None:
    async def scenario() -> Recorder:
        send = Recorder()
        coalescer = Coalescer(send, linger_s=0.05, max_size=10)
        await asyncio.gather(*(coalescer.submit(i % 2 == 0, i) for i in range(5)))
        return send

    groups = dict(asyncio.run(scenario()).groups)
    assert groups == {True: [0, 2, 4], False: [1, 3]}


def test_a_full_group_is_sent_without_waiting_for_the_linger() -> None:
    async def scenario() -> tuple[Recorder, int]:
        send = Recorder()
        coalescer = Coalescer(send, linger_s=3600, max_size=2)  # the linger would never end within the test
        await asyncio.gather(*(coalescer.submit("k", i) for i in range(4)))
        return send, coalescer.pending

    send, pending = asyncio.run(scenario())
    assert [items for _, items in send.groups] == [[0, 1], [2, 3]] and pending == 0


def test_an_item_waits_for_the_linger_until_flushed() -> None:
    async def scenario() -> tuple[int, int, Recorder]:
        send = Recorder()
        coalescer = Coalescer(send, linger_s=3600, max_size=10)
        task = asyncio.create_task(coalescer.submit("k", "a"))
        for _ in range(5):
            await asyncio.sleep(0)
        waiting, sent_before = coalescer.pending, len(send.groups)
        await coalescer.flush()
        await task
        return waiting, sent_before, send

    waiting, sent_before, send = asyncio.run(scenario())
    assert (waiting, sent_before) == (1, 0)
    assert send.groups == [("k", ["a"])]


def test_without_linger_items_of_one_loop_turn_are_grouped() -> None:
    async def scenario() -> Recorder:
        send = Recorder()
        coalescer = Coalescer(send, linger_s=0, max_size=10)
        await asyncio.gather(*(coalescer.submit("k", i) for i in range(3)))
        await coalescer.submit("k", 3)
        return send

    assert [items for _, items in asyncio.run(scenario()).groups] == [[0, 1, 2], [3]]


def test_a_failed_send_is_raised_to_every_submitter_of_the_group() -> None:
    async def scenario() -> list[Any]:
        coalescer = Coalescer(Recorder(ConnectionError("redis down")), linger_s=0.01, max_size=10)
        return await asyncio.gather(*(coalescer.submit("k", i) for i in range(3)), return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert all(isinstance(o, ConnectionError) for o in outcomes) and len(outcomes) == 3


def test_close_sends_pending_items_and_then_sends_at_once() -> None:
    async def scenario() -> Recorder:
        send = Recorder()
        coalescer = Coalescer(send, linger_s=3600, max_size=10)
        waiting = [asyncio.create_task(coalescer.submit(k, k)) for k in ("a", "b")]
        await asyncio.sleep(0)
        await coalescer.close()
        await asyncio.gather(*waiting)
        await coalescer.submit("c", "c")  # after close: no linger
        return send

    assert sorted(asyncio.run(scenario()).groups) == [("a", ["a"]), ("b", ["b"]), ("c", ["c"])]


def test_the_linger_grows_while_the_consumers_are_behind_and_shrinks_back() -> None:
    coalescer = Coalescer(Recorder(), linger_s=0.005, max_size=10, max_linger_s=0.02)
    lingers = []
    for backlog in (True, True, True, False, False, False):
        coalescer.behind(backlog)
        lingers.append(coalescer.linger_s)
    assert lingers == pytest.approx([0.01, 0.02, 0.02, 0.01, 0.005, 0.005])
    fixed = Coalescer(Recorder(), linger_s=0.005, max_size=10)  # no maximum given: the linger stays
    fixed.behind(True)
    assert fixed.linger_s == 0.005


def test_max_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Coalescer(Recorder(), linger_s=0, max_size=0)


# --- the job service on fakeredis (no worker: the group jobs stay queued) -------------------


def _submit_together(client: TestClient, explains: list[bool]) -> list[dict[str, Any]]:
    """Submit one application per entry of ``explains`` at the same moment, on the app's event loop."""
    jobs = client.app.state.resources.jobs  # type: ignore[attr-defined]
    bodies = [orjson.dumps(a) for a in synthetic_applications(len(explains), seed=21)]

    async def together() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(jobs.submit(body, f"r{i}", explain)
                                           for i, (body, explain) in enumerate(zip(bodies, explains, strict=True)))))

    return client.portal.call(together)  # type: ignore[union-attr]


def _group_jobs(client: TestClient) -> list[Job]:
    resources = client.app.state.resources  # type: ignore[attr-defined]
    queue = Queue(resources.settings.queue_name, connection=resources.redis, serializer=JOB_SERIALIZER)
    return [job for job in queue.get_jobs() if job.func_name == SCORE_GROUP_JOB]


def test_single_applications_submitted_together_share_one_rq_job_and_keep_their_ids(make_client: Any) -> None:
    client = make_client(embedded_worker=False, job_linger_ms=200)
    answers = _submit_together(client, [False] * 5)
    ids = [a["job_id"] for a in answers]
    assert len(set(ids)) == 5 and all(a["status"] == "queued" and a["count"] == 1 for a in answers)
    [group] = _group_jobs(client)
    assert group.kwargs["ids"] == ids and group.kwargs["request_ids"] == [f"r{i}" for i in range(5)]
    redis = client.app.state.resources.redis  # type: ignore[attr-defined]
    assert {redis.hget(application_key(i), "group") for i in ids} == {group.id.encode()}
    for job_id in ids:  # each answers for itself, as queued
        body = client.get(f"/v1/jobs/{job_id}", headers={"X-API-Key": "test-key-one"}).json()
        assert body["job_id"] == job_id and body["status"] == "queued" and body["started_at"] is None


def test_submissions_with_other_options_are_coalesced_apart(make_client: Any) -> None:
    client = make_client(embedded_worker=False, job_linger_ms=200)
    answers = _submit_together(client, [False, True, False, True, True])
    groups = {job.kwargs["explain"]: job.kwargs["ids"] for job in _group_jobs(client)}
    ids = [a["job_id"] for a in answers]
    assert groups == {False: [ids[0], ids[2]], True: [ids[1], ids[3], ids[4]]}


def test_a_group_holds_at_most_job_group_max_applications(make_client: Any) -> None:
    client = make_client(embedded_worker=False, job_linger_ms=200, job_group_max=2)
    _submit_together(client, [False] * 5)
    assert sorted(len(job.kwargs["ids"]) for job in _group_jobs(client)) == [1, 2, 2]


def test_applications_waiting_at_shutdown_are_enqueued_not_lost(gateway_settings: Any) -> None:
    from embedded.app import create_app

    client = TestClient(create_app(gateway_settings(embedded_worker=False)), raise_server_exceptions=False)
    client.__enter__()
    resources = client.app.state.resources  # type: ignore[attr-defined]
    resources.jobs.coalescer.linger_s = 3600.0  # the linger would never end within the test
    body = orjson.dumps(synthetic_applications(1, seed=22)[0])
    pending = client.portal.start_task_soon(resources.jobs.submit, body, "r-last")  # type: ignore[union-attr]
    client.portal.call(asyncio.sleep, 0)  # type: ignore[union-attr]  # the submission reached the coalescer
    assert resources.jobs.coalescer.pending == 1
    client.__exit__(None, None, None)  # the gateway stops while the application waits
    answer = pending.result(timeout=10)
    import fakeredis

    redis = fakeredis.FakeRedis(server=resources.embedded.server)
    group = redis.hget(application_key(answer["job_id"]), "group")
    assert group is not None
    job = Job.fetch(group.decode(), connection=redis, serializer=JOB_SERIALIZER)
    assert job.kwargs["ids"] == [answer["job_id"]]


def test_a_backlog_of_jobs_makes_the_next_groups_linger_longer(make_client: Any) -> None:
    client = make_client(embedded_worker=False, job_linger_ms=1, job_linger_max_ms=8)
    coalescer = client.app.state.resources.jobs.coalescer  # type: ignore[attr-defined]
    for _ in range(2):
        _submit_together(client, [False])
    assert coalescer.linger_s == pytest.approx(0.001)  # one job at most waited before it: no backlog
    _submit_together(client, [False])
    assert coalescer.linger_s == pytest.approx(0.002)  # the first two still wait (no worker): behind
    for _ in range(3):
        _submit_together(client, [False])
    assert coalescer.linger_s == pytest.approx(0.008)  # at most JOB_LINGER_MAX_MS
