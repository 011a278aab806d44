"""Planted client ids never stored or logged in clear; ``forget`` then ``export`` leave nothing.

The processes of a deployment run as subprocesses on Redis database 15 with
this run's own stream and queue names (their keys deleted after; the database
is not flushed, so that two runs at once do not cut each other's data) and
Elasticsearch index prefix (deleted after):
``python -m gateway``, ``python -m worker pool``, ``python -m worker indexer``,
then ``python -m monitoring drift``, ``forget`` and ``export``. Known 12-digit
client ids, one per path, go through every path a client id can take: a valid
application (sync and async), a refused one, a malformed body, a batch with a
good and a bad item, a refused job, and a job that fails in the worker. Then
every place a copy could sit is read as bytes and searched for each id: every
document of every index of the prefix (``_source`` as stored, not the indexed
fields), the events stream (read before the indexer starts, and after), its dead
letters and loss records and every other Redis key but RQ's own jobs (which
hold the clear id until their TTL),
the spool folders, the processes' logs, the drift report files. None may hold
one.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis
from rq import Queue
from rq.serializers import JSONSerializer

from shared.pseudonym import pseudonymise
from shared.store.elastic import ElasticsearchEventStore
from tests.integration.redis_support import (
    DATABASES,
    REPO,
    db_url,
    free_port,
    stop_session,
    subprocess_env,
    wait_for,
)
from tests.utils.data import synthetic_applications
from tests.utils.servers import require_elasticsearch, require_redis

pytestmark = [pytest.mark.integration, pytest.mark.slow]

API_KEY = "planted-ids-key"
KEY = "integration-test-key"  # subprocess_env's PSEUDONYMISATION_KEY
BASE = 904_417_263_500  # 12 digits: never a feature value, a timing or an id of ours by chance
IDS = {path: BASE + n for n, path in enumerate((
    "sync_valid", "sync_invalid", "sync_string_id", "sync_malformed", "batch_valid", "batch_bad_item",
    "batch_malformed", "job_valid", "job_invalid", "job_batch_bad_item", "job_failed", "spaced_malformed"), 1)}
TIMEOUT_S = 120  # deadlines, not speed checks


def _bodies() -> dict[str, bytes]:
    """One request body per path, each naming its own planted id."""
    apps = synthetic_applications(4, seed=5)

    def app(path: str, n: int = 0, **changes: Any) -> dict[str, Any]:
        return {**apps[n], "SK_ID_CURR": IDS[path], **changes}

    return {
        "sync_valid": orjson.dumps(app("sync_valid")),
        "sync_invalid": orjson.dumps(app("sync_invalid", DAYS_BIRTH=5)),
        "sync_string_id": orjson.dumps(app("sync_string_id", SK_ID_CURR=str(IDS["sync_string_id"]))),
        "sync_malformed": b'{"SK_ID_CURR": %d, "AMT_CREDIT": ' % IDS["sync_malformed"],
        "spaced_malformed": b"{ 'SK_ID_CURR' :\n  \"%d\" ,," % IDS["spaced_malformed"],
        "batch": orjson.dumps({"applications": [app("batch_valid", 1), app("batch_bad_item", 2, AMT_CREDIT=-5)]}),
        "batch_malformed": b'{"applications": [{"SK_ID_CURR": %d,}]}' % IDS["batch_malformed"],
        "job_valid": orjson.dumps(app("job_valid", 3)),
        "job_invalid": orjson.dumps(app("job_invalid", CODE_GENDER="?")),
        "job_batch": orjson.dumps({"applications": [app("job_batch_bad_item", 1, AMT_CREDIT="lots")]}),
    }


@contextlib.contextmanager
def _process(name: str, argv: list[str], env: dict[str, str], logs: Path) -> Iterator[subprocess.Popen[bytes]]:
    with (logs / f"{name}.log").open("wb") as out:
        process = subprocess.Popen([sys.executable, *argv], cwd=REPO, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        stop_session(process, 20)


def _run(argv: list[str], env: dict[str, str], logs: Path, name: str) -> str:
    done = subprocess.run([sys.executable, "-m", "monitoring", *argv], cwd=REPO, env=env, capture_output=True,
                          timeout=TIMEOUT_S, check=False)
    (logs / f"{name}.log").write_bytes(done.stdout + done.stderr)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return done.stdout.decode()


def _es_sources(store: ElasticsearchEventStore) -> list[bytes]:
    """Every document of every index of the prefix, its ``_source`` as stored (raw bytes of the answer)."""
    store.refresh()
    client = store.client.options(ignore_status=404)
    answer = client.perform_request("GET", f"/{store.prefix}-*/_search", params={"size": "10000"},
                                    headers={"accept": "application/json", "content-type": "application/json"},
                                    body={"query": {"match_all": {}}})
    raw = orjson.dumps(answer.body)
    assert b"_source" in raw
    return [raw]


def _redis_values(client: redis.Redis) -> list[bytes]:
    """The content of every key but RQ's jobs and results (held in clear until their TTL, by design)."""
    values = []
    for key in client.scan_iter(count=1000):
        name = key.decode()
        if name.startswith(("rq:job:", "rq:results:")):
            continue
        kind = client.type(key).decode()
        if kind == "stream":
            values += [orjson.dumps({k.decode(): v.decode(errors="replace") for k, v in fields.items()})
                       for _, fields in client.xrange(key)]
        elif kind == "string":
            values.append(client.get(key) or b"")
        elif kind == "hash":
            values.append(orjson.dumps({k.decode(): v.decode(errors="replace")
                                        for k, v in client.hgetall(key).items()}))
        elif kind == "list":
            values += client.lrange(key, 0, -1)
        elif kind in ("set", "zset"):
            values += list(client.smembers(key)) if kind == "set" else client.zrange(key, 0, -1)
        values.append(key)
    return values


def _files(*folders: Path) -> list[bytes]:
    return [p.read_bytes() for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()]


def _clear_ids_in(blobs: list[bytes]) -> dict[str, int]:
    found = {}
    for path, client_id in IDS.items():
        hits = sum(blob.count(str(client_id).encode()) for blob in blobs)
        if hits:
            found[path] = hits
    return found


def test_planted_ids_are_nowhere_in_clear_and_forget_leaves_nothing(tiny_bundle: Path, tmp_path: Path) -> None:
    store = ElasticsearchEventStore(require_elasticsearch(), f"test-{uuid.uuid4().hex[:8]}")
    logs, reports, spools = tmp_path / "logs", tmp_path / "reports", tmp_path / "spools"
    logs.mkdir()
    port = free_port()
    bodies = _bodies()
    job_ids: list[str] = []
    with contextlib.ExitStack() as stack:
        redis_url = db_url(require_redis(), DATABASES["planted"])
        token = uuid.uuid4().hex[:8]
        stream, queue = f"test:planted:{token}:events", f"planted-{token}"
        stack.callback(store.close)
        stack.callback(store.drop_all)
        direct = stack.enter_context(contextlib.closing(redis.Redis.from_url(redis_url, socket_timeout=10)))
        stack.callback(_delete_keys, direct, token, job_ids)
        env = subprocess_env(redis_url, tiny_bundle, tmp_path, API_KEYS=API_KEY, PORT=port,
                             EVENTS_STREAM=stream, QUEUE_NAME=queue, RQ_QUEUES=queue,
                             ELASTICSEARCH_URL=require_elasticsearch(),
                             ES_INDEX_PREFIX=store.prefix, REPORTS_DIR=reports, SPOOL_DIR=spools / "worker",
                             DRIFT_MIN_ROWS=1, DRIFT_MIN_FEATURE_ROWS=1, LOG_LEVEL="DEBUG", JOB_RETRIES=0)
        gateway_env = {**env, "SPOOL_DIR": str(spools / "gateway")}
        stack.enter_context(_process("gateway", ["-m", "gateway"], gateway_env, logs))
        stack.enter_context(_process("pool", ["-m", "worker", "pool", "--processes", "1"], env, logs))
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": API_KEY}, timeout=30)
        stack.callback(api.close)
        wait_for(lambda: _answers(api), TIMEOUT_S, interval=0.2, what="the gateway answers")

        def post(route: str, body: bytes) -> httpx.Response:
            return api.post(route, content=body, headers={"content-type": "application/json"})

        assert post("/v1/score", bodies["sync_valid"]).status_code == 200
        assert post("/v1/score", bodies["sync_invalid"]).status_code == 422
        assert post("/v1/score", bodies["sync_string_id"]).status_code == 422
        assert post("/v1/score", bodies["sync_malformed"]).status_code == 400
        assert post("/v1/score", bodies["spaced_malformed"]).status_code == 400
        assert post("/v1/score/batch", bodies["batch"]).status_code == 200
        assert post("/v1/score/batch", bodies["batch_malformed"]).status_code == 400
        job = post("/v1/jobs", bodies["job_valid"])
        assert job.status_code == 202
        assert post("/v1/jobs", bodies["job_invalid"]).status_code == 422
        assert post("/v1/jobs", bodies["job_batch"]).status_code == 422
        # A job that fails in the worker (its id is text: refused by the worker's validation), put on the queue
        # past the gateway's validation.
        bad = {**orjson.loads(bodies["job_valid"]), "SK_ID_CURR": str(IDS["job_failed"])}
        failed = Queue(queue, connection=direct, serializer=JSONSerializer).enqueue_call(
            "worker.tasks.score_applications", kwargs={"applications": [bad], "single": True}, result_ttl=600,
            failure_ttl=600)
        for job_id in (job.json()["job_id"], failed.id):
            wait_for(lambda job_id=job_id: api.get(f"/v1/jobs/{job_id}").json()["status"] in ("finished", "failed"),
                     TIMEOUT_S, interval=0.2, what=f"job {job_id} done")
        expected = 12  # events: one per application of each path above
        # The stream is read before the indexer runs (it trims what it stored), then the indexer starts.
        job_ids += [job.json()["job_id"], failed.id]
        wait_for(lambda: direct.xlen(stream) >= expected, TIMEOUT_S, interval=0.2,
                 what=f"{expected} events on the stream")
        waiting = _redis_values(direct)
        assert sum(blob.count(b"client_ref") for blob in waiting) >= expected
        stack.enter_context(_process("indexer", ["-m", "worker", "indexer"], env, logs))
        try:
            wait_for(lambda: _stored(store) >= expected, TIMEOUT_S, interval=0.5, what=f"{expected} events stored")
        except AssertionError:
            pytest.fail(f"{_stored(store)} of {expected} events stored; stream: {direct.xlen(stream)}, "
                        f"dead letters: {direct.xrange(stream + ':dead')}, last count errors: {_ERRORS[-3:]}"
                        f"\n{_tails(logs)}")
        _run(["drift", "--last", "100"], env, logs, "drift")
        stored = store.recent_events(100)
        assert len(stored) == expected
        refs = {e["client_ref"] for e in stored}
        assert {pseudonymise(client_id, KEY) for client_id in IDS.values()} <= refs  # each one findable

        places = {
            "elasticsearch": _es_sources(store),
            "redis": waiting + _redis_values(direct),
            "spools": _files(spools),
            "reports": _files(reports),
        }
        assert places["reports"], "the drift run wrote no report file"

        # Erasure, then access: nothing left about the client, everywhere.
        client = str(IDS["sync_malformed"])
        assert "deleted: events 1," in _run(["forget", "--client-id", client, "--yes"], env, logs, "forget")
        exported = orjson.loads(_run(["export", "--client-id", client], env, logs, "export"))
        assert exported["total"] == 0 and not any(exported["stored"].values()) and not any(exported["redis"].values())
        assert _stored(store) == expected - 1
        assert pseudonymise(client, KEY).encode() not in _es_sources(store)[0]
        [audit, *_] = store.list_audit()
        assert audit["action"] == "export" and client.encode() not in orjson.dumps(store.list_audit())
    places["logs"] = _files(logs)  # once every process has stopped and flushed its log
    assert len(places["logs"]) == 6  # gateway, pool, indexer, drift, forget, export
    leaks = {place: found for place, blobs in places.items() if (found := _clear_ids_in(blobs))}
    assert leaks == {}


def _delete_keys(client: redis.Redis, token: str, job_ids: list[str]) -> None:
    """This run's keys: its stream (and dead letters, loss records), its queue's, its jobs'."""
    keys = list(client.scan_iter(match=f"*{token}*", count=1000))
    keys += [key for job_id in job_ids for key in (f"rq:job:{job_id}", f"rq:results:{job_id}")]
    if keys:
        client.delete(*keys)


def _tails(logs: Path) -> str:
    return "\n".join(f"--- {p.name} ---\n{p.read_text(errors='replace')[-2500:]}" for p in sorted(logs.glob("*.log")))


def _answers(api: httpx.Client) -> bool:
    try:
        return api.get("/health/live").status_code == 200
    except httpx.HTTPError:
        return False


_ERRORS: list[str] = []


def _stored(store: ElasticsearchEventStore) -> int:
    try:
        store.refresh()
        return store.count_events()
    except Exception as exc:  # a just-created daily index answers 503 for a moment
        _ERRORS.append(f"{type(exc).__name__}: {exc}")
        return 0
