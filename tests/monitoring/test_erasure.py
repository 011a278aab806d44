"""``python -m monitoring forget`` and ``export``: one client's data found everywhere, erased, never shown in clear."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import fakeredis
import orjson
import pytest
from rq import Queue
from rq.job import JobStatus
from rq.serializers import JSONSerializer

from monitoring.__main__ import main
from monitoring.erasure import Erasure
from monitoring.settings import MonitoringSettings
from shared.pseudonym import pseudonymise
from shared.store.sqlite import SQLiteEventStore
from tests.utils.events import make_event

CLIENT, OTHER = "811001", "811002"


@pytest.fixture
def env(settings: MonitoringSettings, monkeypatch: pytest.MonkeyPatch) -> MonitoringSettings:
    monkeypatch.setenv("SQLITE_PATH", str(settings.sqlite_path))
    monkeypatch.setenv("MODEL_DIR", str(settings.model_dir))
    return settings


@pytest.fixture
def filled(env: MonitoringSettings, store: SQLiteEventStore) -> Iterator[SQLiteEventStore]:
    key = env.pseudonymisation_key
    ref, other = pseudonymise(CLIENT, key), pseudonymise(OTHER, key)
    at = datetime.now(UTC)
    events = [
        make_event(at, event_id="mine-ok", client_ref=ref),
        make_event(at, status="invalid", event_id="mine-refused", client_ref=ref,
                   raw_input=f'{{"SK_ID_CURR": "{ref}", "AMT_CREDIT": -1}}'),
        make_event(at, status="invalid", event_id="mine-legacy", client_ref=None,
                   raw_input=f'{{"SK_ID_CURR": {CLIENT}, "AMT_CREDIT": '),  # stored before pseudonymisation
        make_event(at, event_id="theirs", client_ref=other),
    ]
    assert store.index_events(events).indexed == 4
    yield store


def _run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_forget_without_yes_counts_and_deletes_nothing(filled: SQLiteEventStore,
                                                        capsys: pytest.CaptureFixture) -> None:
    code, out, err = _run(["forget", "--client-id", CLIENT], capsys)
    assert code == 0 and "would delete: events 3" in out and "total 3" in out and "--yes" in out
    assert filled.count_events() == 4 and filled.list_audit() == []
    assert CLIENT not in out + err


def test_forget_then_export_shows_nothing_left(filled: SQLiteEventStore, env: MonitoringSettings,
                                               capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture) -> None:
    code, out, err = _run(["forget", "--client-id", CLIENT, "--yes"], capsys)
    assert code == 0 and "deleted: events 3" in out and "total 3" in out
    assert [e["event_id"] for e in filled.recent_events()] == ["theirs"]
    [audit] = filled.list_audit()
    assert audit["action"] == "forget" and audit["total"] == 3 and audit["counts"]["events"] == 3
    ref = pseudonymise(CLIENT, env.pseudonymisation_key)
    assert CLIENT not in orjson.dumps(audit).decode() and ref not in orjson.dumps(audit).decode()

    code, out, err = _run(["export", "--client-id", CLIENT], capsys)
    exported = orjson.loads(out)
    assert code == 0 and exported["total"] == 0 and exported["client_ref"] == ref
    assert all(docs == [] for docs in exported["stored"].values())
    code, out, _ = _run(["forget", "--client-id", CLIENT, "--yes", "--json"], capsys)  # idempotent
    assert code == 0 and orjson.loads(out)["total"] == 0
    assert CLIENT not in out + err + caplog.text
    filled.close()
    on_disk = b"".join(p.read_bytes() for p in Path(env.sqlite_path).parent.glob("events.sqlite3*"))
    assert ref.encode() not in on_disk and pseudonymise(OTHER, env.pseudonymisation_key).encode() in on_disk


def test_export_prints_everything_about_the_client_only(filled: SQLiteEventStore, env: MonitoringSettings,
                                                        capsys: pytest.CaptureFixture) -> None:
    code, out, _ = _run(["export", "--client-id", f" {CLIENT} "], capsys)
    exported = orjson.loads(out)
    assert code == 0 and exported["total"] == 3 and exported["redis"] == {}
    assert sorted(e["event_id"] for e in exported["stored"]["events"]) == ["mine-legacy", "mine-ok", "mine-refused"]
    assert filled.list_audit()[0]["action"] == "export"


def test_an_empty_client_id_exits_2_without_touching_anything(filled: SQLiteEventStore,
                                                               capsys: pytest.CaptureFixture) -> None:
    code, _, err = _run(["forget", "--client-id", " ", "--yes"], capsys)
    assert code == 2 and "empty" in err and filled.count_events() == 4


def test_redis_copies_dead_letters_and_finished_jobs_are_erased(env: MonitoringSettings,
                                                               store: SQLiteEventStore) -> None:
    redis = fakeredis.FakeRedis()
    ref = pseudonymise(CLIENT, env.pseudonymisation_key)
    dead = orjson.dumps(make_event(status="invalid", client_ref=ref, raw_input=f'{{"SK_ID_CURR": "{ref}"}}'))
    redis.xadd(env.events_stream + ":dead", {"event": dead, "reason": "mapper_parsing_exception"})
    redis.xadd(env.events_stream + ":dead", {"event": orjson.dumps(make_event(client_ref="0" * 32)), "reason": "x"})
    redis.xadd(env.events_stream, {"event": orjson.dumps(make_event(client_ref=ref))})
    queue = Queue("scoring", connection=redis, serializer=JSONSerializer)
    application = {"SK_ID_CURR": int(CLIENT), "AMT_CREDIT": 1.0}
    done = queue.enqueue_call("worker.tasks.score_applications", kwargs={"applications": [application]})
    done.set_status(JobStatus.FINISHED)
    waiting = queue.enqueue_call("worker.tasks.score_applications", kwargs={"applications": [application]})
    other = queue.enqueue_call("worker.tasks.score_applications", kwargs={"applications": [{"SK_ID_CURR": 1}]})
    other.set_status(JobStatus.FINISHED)
    redis.sadd(f"rq:job:{done.id}:dependents", "x")  # a job's other keys are no job hash
    erasure = Erasure(env, store, redis)

    exported = erasure.export(CLIENT)
    assert len(exported["redis"]["dead_letters"]) == 1 and len(exported["redis"]["stream"]) == 1
    assert exported["redis"]["jobs"] == sorted([done.id, waiting.id])
    answer = erasure.forget(CLIENT, yes=True)
    assert answer["deleted"]["dead_letters"] == 1 and answer["deleted"]["jobs"] == 1
    assert answer["left"] == {"stream": 1, "jobs_running": 1}  # waiting for the indexer / the worker
    assert redis.xlen(env.events_stream + ":dead") == 1 and redis.xlen(env.events_stream) == 1
    assert not redis.exists(f"rq:job:{done.id}") and redis.exists(f"rq:job:{waiting.id}", f"rq:job:{other.id}") == 2
    assert erasure.forget(CLIENT, yes=True)["deleted"]["dead_letters"] == 0


def test_the_id_can_come_from_stdin_instead_of_the_command_line(filled: SQLiteEventStore,
                                                                 capsys: pytest.CaptureFixture,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(f"{CLIENT}\n"))
    code, out, _ = _run(["forget", "--client-id", "-", "--yes", "--json"], capsys)
    answer = orjson.loads(out)
    assert code == 0 and answer["deleted"]["events"] == 3 and answer["left"] == {}
