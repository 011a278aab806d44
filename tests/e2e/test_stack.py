"""End to end: the stack of `make stack` (scripts/stack.sh, the Procfile under honcho) on real servers.

It runs on its own Redis database (12: the integration suites use 8 to 11) and its own
Elasticsearch index prefix, on free ports, with the tiny bundle; sends sync and async requests
with synthetic applications, checks that each is exactly one event in Elasticsearch and that the
dashboard answers; then stops the stack as Ctrl-C does (SIGINT to the script's process group)
and checks that no process of it is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from monitoring.dashboard.auth import hash_password
from shared.store.elastic import ElasticsearchEventStore
from tests.utils.data import synthetic_applications
from tests.utils.servers import require_elasticsearch, require_redis

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
REDIS_DB = 12
API_KEY = "e2e-stack-key-0123456789"
DASH_USER, DASH_PASSWORD = "e2e", "e2e-dashboard-password"
N_SYNC, N_ASYNC = 12, 8
START_TIMEOUT_S = 90  # a deadline, not a speed check: the machine may be busy
STOP_TIMEOUT_S = 40
# one line of the Procfile each (the gateway and the pool also have their worker processes)
PROCESSES = ["-m gateway", "-m worker pool", "-m worker indexer", "-m monitoring schedule",
             "-m monitoring dashboard", "stack_ready.py"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Proc:
    """One line of /proc/<pid>/stat, with the command line."""

    pid: int
    ppid: int
    sid: int
    start: int  # start time in clock ticks since boot: (pid, start) names a process, reused pids aside
    state: str
    cmd: str


def processes() -> dict[int, Proc]:
    """Every process of the machine (Linux /proc)."""
    table: dict[int, Proc] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry.name)] = Proc(int(entry.name), int(fields[1]), int(fields[3]), int(fields[19]), fields[0], cmd)
    return table


def descendants(root: int) -> list[Proc]:
    """``root`` and every process below it."""
    table = processes()
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            found.append(table[pid])
            todo.extend(p.pid for p in table.values() if p.ppid == pid)
    return found


@dataclass
class Stack:
    """A running scripts/stack.sh and where it listens."""

    process: subprocess.Popen[bytes]
    log: Path
    api: str
    dashboard: str
    es_url: str
    prefix: str
    sessions: set[int] = field(default_factory=set)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def snapshot(self) -> list[Proc]:
        """The stack's processes now (their sessions are remembered for the clean-up)."""
        found = descendants(self.process.pid)
        self.sessions |= {p.sid for p in found}
        return found

    def stop(self, sig: int = signal.SIGINT) -> int:
        """Ctrl-C: the signal to the script's process group (the script and honcho); returns the exit status."""
        os.killpg(self.process.pid, sig)
        return self.process.wait(STOP_TIMEOUT_S)

    def kill_all(self) -> None:
        """Last resort of a failed test: SIGKILL whatever still runs in the stack's sessions."""
        for proc in processes().values():
            if proc.sid in self.sessions and proc.state != "Z":
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)


def wait_for(condition: Any, timeout: float, what: str, stack: Stack | None = None) -> Any:
    """Poll ``condition`` until truthy; on timeout fail with the end of the stack's output."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if stack is not None and stack.process.poll() is not None:
            pytest.fail(f"the stack stopped while waiting for {what}:\n{stack.output()[-4000:]}")
        if time.monotonic() > deadline:
            tail = stack.output()[-4000:] if stack else ""
            pytest.fail(f"{what}: still not true after {timeout} s\n{tail}")
        time.sleep(0.5)
    return value


@pytest.fixture
def stack(tiny_bundle: Path, tmp_path: Path) -> Iterator[Stack]:
    es_url = require_elasticsearch()
    base = require_redis().rstrip("/")
    redis_url = (base.rsplit("/", 1)[0] if base.count("/") > 2 else base) + f"/{REDIS_DB}"
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    api_port, dash_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("API_KEYS", "ALLOW_NO_API_KEY", "DASHBOARD_USERS", "ALLOW_OPEN_DASHBOARD", "PYTEST_"))}
    env.update({
        "REDIS_URL": redis_url, "ELASTICSEARCH_URL": es_url, "ES_INDEX_PREFIX": prefix, "MODEL_DIR": str(tiny_bundle),
        "PORT": str(api_port), "DASH_PORT": str(dash_port), "API_KEYS": API_KEY, "ENVIRONMENT": "development",
        "PSEUDONYMISATION_KEY": "e2e-pseudonymisation-key", "REPORTS_DIR": str(tmp_path / "reports"),
        "SQLITE_PATH": str(tmp_path / "unused.sqlite3"), "LOG_LEVEL": "INFO",
        "DASHBOARD_USERS": f"{DASH_USER}:{hash_password(DASH_PASSWORD, rounds=4)}",
    })
    log = tmp_path / "stack.log"
    with log.open("wb") as out:
        process = subprocess.Popen(["bash", str(REPO / "scripts" / "stack.sh")], cwd=REPO, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    running = Stack(process, log, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{dash_port}", es_url, prefix)
    try:
        yield running
    finally:
        if process.poll() is None:  # the test failed half-way: stop it, and kill what did not stop
            running.snapshot()
            with contextlib.suppress(subprocess.TimeoutExpired):
                running.stop()
        running.kill_all()
        client.flushdb()
        client.close()
        ElasticsearchEventStore(es_url, prefix).drop_all()


def _event_counts(stack: Stack, field: str, values: list[str]) -> dict[str, int]:
    """How many events of this stack's indices hold each value of ``field``."""
    with httpx.Client(base_url=stack.es_url, timeout=10) as es:
        es.post(f"/{stack.prefix}-events-*/_refresh", params={"allow_no_indices": "true"})
        body = {"size": 0, "query": {"terms": {field: values}},
                "aggs": {"by": {"terms": {"field": field, "size": len(values) + 10}}}}
        answer = es.post(f"/{stack.prefix}-events-*/_search", params={"allow_no_indices": "true"}, json=body)
        if answer.status_code == 503:  # the day's index was just created: its shard is not active yet
            return {}
        answer.raise_for_status()
        aggregations = answer.json().get("aggregations")
        if aggregations is None:  # no index matches yet: the search ran on no shard and aggregated nothing
            return {}
        return {b["key"]: b["doc_count"] for b in aggregations["by"]["buckets"]}


def test_stack_scores_indexes_serves_the_dashboard_and_stops_cleanly(stack: Stack) -> None:
    wait_for(lambda: "stack ready" in stack.output(), START_TIMEOUT_S, "the `ready` banner", stack)
    stack.snapshot()
    assert f"API docs   {stack.api}/docs" in stack.output()
    assert f"Dashboard  {stack.dashboard}" in stack.output()

    apps = synthetic_applications(N_SYNC + N_ASYNC, seed=7)
    headers = {"X-API-Key": API_KEY}
    with httpx.Client(base_url=stack.api, headers=headers, timeout=30) as api:
        assert api.get("/health/ready").json()["status"] == "ready"
        assert api.post("/v1/score", json=apps[0], headers={"X-API-Key": "wrong"}).status_code == 401
        sync_ids = []
        for app in apps[:N_SYNC]:
            answer = api.post("/v1/score", json=app)
            assert answer.status_code == 200, answer.text
            sync_ids.append(answer.json()["request_id"])
        job_ids = []
        for app in apps[N_SYNC:]:
            answer = api.post("/v1/jobs", json=app)
            assert answer.status_code == 202, answer.text
            job_ids.append(answer.json()["job_id"])

        def jobs_done() -> bool:
            return all(api.get(f"/v1/jobs/{j}").json()["status"] in ("finished", "failed") for j in job_ids)

        wait_for(jobs_done, 60, "every job finished", stack)
        assert {api.get(f"/v1/jobs/{j}").json()["status"] for j in job_ids} == {"finished"}

    def indexed() -> bool:
        return (sum(_event_counts(stack, "request_id", sync_ids).values()) >= N_SYNC
                and sum(_event_counts(stack, "job_id", job_ids).values()) >= N_ASYNC)

    wait_for(indexed, 60, "every request indexed in Elasticsearch", stack)
    assert _event_counts(stack, "request_id", sync_ids) == dict.fromkeys(sync_ids, 1)
    assert _event_counts(stack, "job_id", job_ids) == dict.fromkeys(job_ids, 1)

    assert httpx.get(stack.dashboard + "/", timeout=30).status_code == 401
    assert httpx.get(stack.dashboard + "/", auth=(DASH_USER, DASH_PASSWORD), timeout=30).status_code == 200

    # every Procfile line runs as its own process, the gateway and the pool with their 2 workers each
    running = stack.snapshot()
    for needle in PROCESSES:
        assert any(needle in p.cmd for p in running), f"no process runs {needle!r}: {[p.cmd for p in running]}"
    gateway = next(p for p in running if "-m gateway" in p.cmd)
    assert sum(1 for p in running if p.ppid == gateway.pid and "multiprocessing.spawn" in p.cmd) == 2
    pool = next(p for p in running if "-m worker pool" in p.cmd and "-m worker pool" not in processes()[p.ppid].cmd)
    assert sum(1 for p in running if p.ppid == pool.pid) == 2

    assert stack.stop(signal.SIGINT) == 0, stack.output()[-4000:]
    ours = {(p.pid, p.start) for p in running}
    left = [p for p in processes().values()
            if p.state != "Z" and ((p.pid, p.start) in ours or p.sid in stack.sessions)]
    assert not left, f"left running after the stop: {left}"
    output = stack.output()
    assert "left behind" not in output, output[-4000:]  # honcho stopped everything itself, not the sweep
    assert "stopped: no process of the stack is left." in output
