"""Embedded mode (SQLite, in-process worker and indexer): planted client ids are nowhere in clear.

Known ids go through every path (valid, refused, malformed JSON, batch, async job, refused job, failed job);
then the SQLite file (and its write-ahead log), the spool folder and every log record the gateway produced
(formatted by its own JSON formatter) are searched: no id may appear. The events keep each id's pseudonym,
so erasure and access find them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from rq import Queue

from shared.jobs import JOB_SERIALIZER, SCORE_JOB
from shared.logs import JsonFormatter
from shared.pseudonym import pseudonymise
from shared.schema import example_application
from shared.store.sqlite import SQLiteEventStore
from tests.gateway.conftest import HEADERS
from tests.gateway.test_jobs import poll
from tests.utils.waiting import wait_until

KEY = "test-pseudonymisation-key"
BASE = 731_905_118_200
IDS = {path: BASE + n for n, path in enumerate(
    ("valid", "invalid", "malformed", "batch_valid", "batch_bad", "job", "job_invalid", "job_failed"), 1)}


def _app(path: str, **changes: Any) -> dict[str, Any]:
    return {**example_application(), "SK_ID_CURR": IDS[path], **changes}


def test_planted_ids_reach_neither_sqlite_nor_logs_in_clear(make_client: Any, tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client: TestClient = make_client(embedded_indexer=True)

    def post(route: str, body: bytes) -> int:
        return client.post(route, content=body, headers=HEADERS).status_code

    assert post("/v1/score", orjson.dumps(_app("valid"))) == 200
    assert post("/v1/score", orjson.dumps(_app("invalid", DAYS_BIRTH=5))) == 422
    assert post("/v1/score", b'{"SK_ID_CURR" : %d , "AMT_CREDIT": ' % IDS["malformed"]) == 400
    batch = {"applications": [_app("batch_valid"), _app("batch_bad", AMT_CREDIT=-1)]}
    assert post("/v1/score/batch", orjson.dumps(batch)) == 200
    accepted = client.post("/v1/jobs", content=orjson.dumps(_app("job")), headers=HEADERS).json()
    assert post("/v1/jobs", orjson.dumps(_app("job_invalid", CODE_GENDER="?"))) == 422
    resources = client.app.state.resources  # type: ignore[attr-defined]
    queue = Queue(resources.settings.queue_name, connection=resources.redis, serializer=JOB_SERIALIZER)
    failed = queue.enqueue_call(SCORE_JOB, kwargs={"applications": [_app("job_failed", SK_ID_CURR=str(
        IDS["job_failed"]))], "single": True})
    assert poll(client, accepted["job_id"])["status"] == "finished"
    assert poll(client, failed.id)["status"] == "failed"
    settings = resources.settings
    store = SQLiteEventStore(settings.sqlite_path)
    store.setup()

    def stored() -> bool:
        return store.count_events() >= len(IDS)

    wait_until(stored, timeout=20)
    refs = {event["client_ref"] for event in store.recent_events(100)}
    store.close()
    assert len(refs) == len(IDS) and {pseudonymise(client_id, KEY) for client_id in IDS.values()} <= refs

    blobs = [p.read_bytes() for p in Path(settings.sqlite_path).parent.glob("*.sqlite3*")]
    blobs += [p.read_bytes() for p in Path(settings.spool_dir).rglob("*") if p.is_file()]
    formatter = JsonFormatter(KEY)
    lines = [formatter.format(record) for record in caplog.records]
    assert blobs and len(lines) > 10
    for path, client_id in IDS.items():
        text = str(client_id).encode()
        assert not any(text in blob for blob in blobs), path
        assert not any(str(client_id) in line for line in lines), path
