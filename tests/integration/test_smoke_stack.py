"""deploy/smoke_stack.py against a real multi-process stack: gateway and indexer on Redis and Elasticsearch.

The deploy job runs that script after the stack is up; here it runs against the same
processes started from this checkout (one gateway process, the indexer, each its own
Redis database and index prefix), and against a gateway whose events never reach
Elasticsearch (no indexer), where it must fail.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.schema import LoanApplication
from shared.store.elastic import ElasticsearchEventStore
from tests.integration.redis_support import REPO, free_port, redis_database, stop_session, subprocess_env
from tests.utils.servers import require_elasticsearch

pytestmark = pytest.mark.integration
API_KEY = "smoke-stack-key-0123456789abcdef"
SCRIPT = REPO / "deploy" / "smoke_stack.py"


def test_the_smoke_application_is_valid() -> None:
    import json

    LoanApplication.model_validate(json.loads((REPO / "deploy" / "smoke_application.json").read_text()))


@contextlib.contextmanager
def _stack(bundle: Path, tmp_path: Path, *, indexer: bool) -> Iterator[tuple[str, str, str]]:
    es_url = require_elasticsearch()
    store = ElasticsearchEventStore(es_url, f"test-{uuid.uuid4().hex[:8]}")
    port = free_port()
    processes = []
    try:
        with redis_database("smoke-stack") as redis_url:
            common = {"EVENTS_STREAM": f"smoke:{uuid.uuid4().hex[:6]}", "ES_INDEX_PREFIX": store.prefix,
                      "QUEUE_NAME": "scoring", "WEB_CONCURRENCY": "1", "ELASTICSEARCH_URL": es_url}
            envs = [("gateway", ["-m", "gateway"], subprocess_env(
                redis_url, bundle, tmp_path, **common, API_KEYS=API_KEY, HOST="127.0.0.1", PORT=port,
                SPOOL_DIR=tmp_path / "spool"))]
            if indexer:
                envs.append(("indexer", ["-m", "worker", "indexer"], subprocess_env(
                    redis_url, bundle, tmp_path, **common, INDEXER_CONSUMER="smoke", INDEXER_BLOCK_MS=200)))
            for name, argv, env in envs:
                with (tmp_path / f"{name}.log").open("wb") as out:
                    processes.append(subprocess.Popen([sys.executable, *argv], cwd=REPO, env=env, stdout=out,
                                                      stderr=subprocess.STDOUT, start_new_session=True))
            yield f"http://127.0.0.1:{port}", es_url, store.prefix
    finally:
        for process in processes:
            stop_session(process, 20)
        store.drop_all()
        store.close()


def _smoke(gateway: str, es_url: str, prefix: str, timeout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), "--gateway", gateway, "--elasticsearch", es_url,
                           "--prefix", prefix, "--timeout", str(timeout)], capture_output=True, text=True,
                          env={"SMOKE_API_KEY": API_KEY, "PATH": "/usr/bin:/bin"}, timeout=timeout + 30)


def test_scores_and_finds_the_event_stored(tiny_bundle: Path, tmp_path: Path) -> None:
    with _stack(tiny_bundle, tmp_path, indexer=True) as (gateway, es_url, prefix):
        result = _smoke(gateway, es_url, prefix, 90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "scored:" in result.stdout and "stored: event" in result.stdout


def test_fails_when_the_event_never_reaches_elasticsearch(tiny_bundle: Path, tmp_path: Path) -> None:
    with _stack(tiny_bundle, tmp_path, indexer=False) as (gateway, es_url, prefix):
        result = _smoke(gateway, es_url, prefix, 30)
    assert result.returncode == 1 and "FAIL: event" in result.stdout, result.stdout + result.stderr
