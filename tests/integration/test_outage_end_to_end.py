"""Outages under HTTP load through the real processes: every accepted request indexed exactly once.

The processes of a deployment run as subprocesses on this test's Redis database
(14, flushed before and after) and Elasticsearch index prefix (``test-<uuid8>``,
deleted before and after), with the tiny bundle: ``python -m gateway`` with its
Redis behind a TCP proxy, ``python -m worker pool`` (first test) and ``python -m
worker indexer`` with its Elasticsearch behind another proxy. The shared servers
stay up for everyone else: an outage is a proxy cut, then restored
(tests/utils/tcp_proxy.py). Client threads send requests over HTTP all along;
the test then counts, in the index, the events of the requests the gateway
accepted (2xx), by request id (sync) and job id (async): each exactly once,
and nothing else.

1. Elasticsearch cut for several seconds under sync (``/v1/score``) and async
   (``/v1/jobs``) load: the gateway and the worker keep answering, the events
   wait in the stream, the indexer retries and stores them once it is back.
2. Redis cut between the gateway and Redis under sync load: scoring goes on,
   ``/health/ready`` and ``/metrics`` report the spool and name Redis while it
   is down, and the spool is forwarded once Redis is back.

Every wait is a deadline (the machine may be busy), never a speed check.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import redis
from elasticsearch import ApiError, TransportError

from shared.store.elastic import ElasticsearchEventStore
from shared.store.exceptions import StoreError
from tests.integration.redis_support import REPO, free_port, redis_database, stop_session, subprocess_env
from tests.utils.data import synthetic_applications
from tests.utils.servers import require_elasticsearch
from tests.utils.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.integration, pytest.mark.slow]

API_KEY = "outage-e2e-key"
STREAM = "scoring:events"
GROUP = "indexer"
START_TIMEOUT_S = 90  # deadlines, not speed checks: the machine may be busy
WAIT_TIMEOUT_S = 60
INDEX_TIMEOUT_S = 120
CUT_S = 5.0  # an outage lasts at least this long...
DURING_CUT = 100  # ...and until this many requests were accepted during it
AFTER_CUT = 50  # requests accepted once the server is back, before the load stops
PAUSE_S = 0.05  # between two requests of one client thread: a few hundred requests per test
MAX_REQUESTS = 3000  # a bound on the load, should a phase take longer than planned


@dataclass
class Service:
    """One subprocess of the deployment and its log file (stdout and stderr)."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Deployment:
    """The running processes, the proxies in front of the servers, direct clients for counting."""

    api: str
    direct: redis.Redis  # the test's own client of the real Redis (not through the proxy)
    store: ElasticsearchEventStore
    redis_proxy: TcpProxy
    es_proxy: TcpProxy
    services: dict[str, Service] = field(default_factory=dict)

    def wait_for(self, condition: Callable[[], Any], timeout: float, what: str, *, fail: bool = True) -> Any:
        """Poll ``condition`` until truthy and return it; fail with the logs if a process died or time ran out.

        With ``fail=False`` a timeout returns the last (falsy) value instead, for the caller to say what is missing.
        """
        deadline = time.monotonic() + timeout
        while not (value := condition()):
            dead = [s for s in self.services.values() if s.process.poll() is not None]
            if dead:
                pytest.fail(f"{what}: {dead[0].name} exited\n{self.logs()}")
            if time.monotonic() > deadline:
                if not fail:
                    return value
                pytest.fail(f"{what}: still false after {timeout} s\n{self.logs()}")
            time.sleep(0.2)
        return value

    def logs(self) -> str:
        return "\n".join(f"--- {s.name} ---\n{s.output()[-3000:]}" for s in self.services.values())

    def ready(self) -> tuple[int, dict[str, Any]]:
        answer = httpx.get(f"{self.api}/health/ready", timeout=15)
        return answer.status_code, answer.json()

    def metrics(self) -> dict[str, float]:
        """The unlabelled samples of ``/metrics`` (the gauges), by name."""
        text = httpx.get(f"{self.api}/metrics", timeout=15).text
        samples = (line.split(" ") for line in text.splitlines() if line and not line.startswith("#"))
        return {parts[0]: float(parts[1]) for parts in samples if len(parts) == 2}

    def waiting(self) -> int:
        """Entries of the stream not acknowledged by the indexer's group: read but not stored, or not read yet."""
        try:
            group = next(g for g in self.direct.xinfo_groups(STREAM) if g["name"] in (GROUP, GROUP.encode()))
            unread = self.direct.xrange(STREAM, min=b"(" + _as_bytes(group["last-delivered-id"]))
        except (redis.ResponseError, StopIteration):  # no stream or group yet
            return 0
        return int(group["pending"]) + len(unread)

    def stream_settled(self) -> bool:
        """Every entry of the stream delivered to the indexer and acknowledged."""
        try:
            last = self.direct.xinfo_stream(STREAM)["last-generated-id"]
            group = next(g for g in self.direct.xinfo_groups(STREAM) if g["name"] in (GROUP, GROUP.encode()))
        except (redis.ResponseError, StopIteration):
            return False
        return bool(group["pending"] == 0 and group["last-delivered-id"] == last)

    def events(self) -> list[dict[str, Any]] | None:
        """The prefix's events (path, status, request and job ids); None while an index is not searchable yet."""
        try:
            self.store.refresh()
            answer = self.store.client.search(
                index=self.store.events_pattern, ignore_unavailable=True, allow_no_indices=True, size=10_000,
                source=["path", "status", "request_id", "job_id"], query={"match_all": {}})
        except (StoreError, ApiError, TransportError):  # a just-created daily index answers 503 for a moment
            return None
        return [hit["_source"] for hit in answer["hits"]["hits"]]


@dataclass(frozen=True)
class Outcome:
    """One request of the load: its kind, HTTP status (0: no answer) and id (request id or job id)."""

    kind: str
    status: int
    key: str | None


class Load:
    """Client threads sending requests (alternating ``kinds``) until stopped, with a pause between two.

    Args:
        api: the gateway's base URL.
        applications: the bodies, used in turn.
        kinds: ``"score"`` (``POST /v1/score``) and/or ``"job"`` (``POST /v1/jobs``).
        threads: client threads.
    """

    def __init__(self, api: str, applications: list[dict[str, Any]], kinds: tuple[str, ...], threads: int) -> None:
        self.api, self.applications, self.kinds = api, applications, kinds
        self.outcomes: list[Outcome] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True, name=f"load-{n}")
                         for n in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop sending and wait for the requests in flight."""
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def accepted(self, kind: str | None = None) -> list[str]:
        """Ids of the requests answered 2xx (of one kind)."""
        with self._lock:
            return [o.key for o in self.outcomes
                    if 200 <= o.status < 300 and o.key and kind in (None, o.kind)]

    def refused(self) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if not 200 <= o.status < 300]

    def _run(self, number: int) -> None:
        with httpx.Client(base_url=self.api, headers={"X-API-Key": API_KEY}, timeout=30) as client:
            n = 0
            while not self._stop.is_set() and len(self.outcomes) < MAX_REQUESTS:
                kind = self.kinds[n % len(self.kinds)]
                body = self.applications[(number * 17 + n) % len(self.applications)]
                key: str | None = None
                try:
                    if kind == "score":
                        answer = client.post("/v1/score", json=body)
                        key = answer.json().get("request_id") if answer.status_code == 200 else None
                    else:
                        answer = client.post("/v1/jobs", json=body)
                        key = answer.json().get("job_id") if answer.status_code == 202 else None
                    status = answer.status_code
                except (httpx.HTTPError, ValueError) as exc:
                    status = 0
                    with self._lock:
                        self.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
                with self._lock:
                    self.outcomes.append(Outcome(kind, status, key))
                n += 1
                self._stop.wait(PAUSE_S)


def _proxied(url: str, proxy: TcpProxy) -> str:
    """``url`` with its host and port replaced by the proxy's (user info, path kept)."""
    parsed = urlparse(url)
    userinfo = parsed.netloc.rsplit("@", 1)[0] + "@" if "@" in parsed.netloc else ""
    return parsed._replace(netloc=userinfo + proxy.url_host).geturl()


@contextlib.contextmanager
def _service(deployed: Deployment, name: str, argv: list[str], env: dict[str, str],
             logs: Path) -> Iterator[Service]:
    """``python <argv>`` until the block ends: SIGTERM, then SIGKILL to its process group after 20 s."""
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, *argv], cwd=REPO, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    deployed.services[name] = service = Service(name, process, log)
    try:
        yield service
    finally:
        stop_session(process, 20)


@contextlib.contextmanager
def deployment(bundle: Path, tmp_path: Path, *, worker: bool) -> Iterator[Deployment]:
    """Gateway (Redis through a proxy), indexer (Elasticsearch through a proxy) and optionally a worker pool."""
    es_url = require_elasticsearch()
    store = ElasticsearchEventStore(es_url, f"test-{uuid.uuid4().hex[:8]}")
    store.drop_all()
    logs = tmp_path / "logs"
    logs.mkdir()
    with contextlib.ExitStack() as stack:
        redis_url = stack.enter_context(redis_database("outage"))
        stack.callback(store.close)
        stack.callback(store.drop_all)
        direct = stack.enter_context(contextlib.closing(redis.Redis.from_url(redis_url, socket_timeout=10)))
        parsed = urlparse(redis_url)
        redis_proxy = stack.enter_context(TcpProxy(parsed.port or 6379, parsed.hostname or "127.0.0.1"))
        parsed = urlparse(es_url)
        es_proxy = stack.enter_context(TcpProxy(parsed.port or 9200, parsed.hostname or "127.0.0.1"))
        api_port = free_port()
        deployed = Deployment(f"http://127.0.0.1:{api_port}", direct, store, redis_proxy, es_proxy)
        common = {"EVENTS_STREAM": STREAM, "ES_INDEX_PREFIX": store.prefix, "QUEUE_NAME": "scoring",
                  "WEB_CONCURRENCY": "1", "WORKERS": "1"}
        gateway_env = subprocess_env(
            _proxied(redis_url, redis_proxy), bundle, tmp_path, **common, API_KEYS=API_KEY, HOST="127.0.0.1",
            PORT=api_port, SPOOL_DIR=tmp_path / "gateway-spool", REDIS_TIMEOUT_S=1)
        indexer_env = subprocess_env(redis_url, bundle, tmp_path, **common, INDEXER_GROUP=GROUP,
                                     INDEXER_CONSUMER="outage-e2e", INDEXER_BATCH_SIZE=200, INDEXER_BLOCK_MS=200,
                                     ELASTICSEARCH_URL=_proxied(es_url, es_proxy))
        stack.enter_context(_service(deployed, "indexer", ["-m", "worker", "indexer"], indexer_env, logs))
        if worker:
            pool_env = subprocess_env(redis_url, bundle, tmp_path, **common)
            stack.enter_context(_service(deployed, "worker pool", ["-m", "worker", "pool", "--processes", "1"],
                                         pool_env, logs))
        stack.enter_context(_service(deployed, "gateway", ["-m", "gateway"], gateway_env, logs))
        deployed.wait_for(lambda: _answers(deployed), START_TIMEOUT_S, "the gateway ready")
        yield deployed


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _answers(deployed: Deployment) -> bool:
    try:
        return deployed.ready()[0] == 200
    except httpx.HTTPError:
        return False


def assert_each_indexed_once(deployed: Deployment, load: Load) -> None:
    """Wait until the stream is settled and every accepted request is in the index, then count them exactly."""
    sync_ids, job_ids = load.accepted("score"), load.accepted("job")
    expected = set(sync_ids) | set(job_ids)

    def all_in() -> bool:
        events = deployed.events() if deployed.stream_settled() else None
        if events is None:
            return False
        found = {e.get("request_id") for e in events if e["path"] == "sync"} | {
            e.get("job_id") for e in events if e["path"] == "async"}
        return found >= expected

    # no failure on timeout here: the counts below then say which requests are missing
    deployed.wait_for(all_in, INDEX_TIMEOUT_S, f"{len(expected)} accepted requests indexed", fail=False)
    events = deployed.wait_for(deployed.events, WAIT_TIMEOUT_S, "the index searchable")
    by_request = Counter(e.get("request_id") for e in events if e["path"] == "sync")
    by_job = Counter(e.get("job_id") for e in events if e["path"] == "async")
    lost = [i for i in sync_ids if by_request[i] == 0] + [j for j in job_ids if by_job[j] == 0]
    duplicated = {k: n for k, n in (by_request + by_job).items() if n > 1}
    unexpected = (set(by_request) - set(sync_ids)) | (set(by_job) - set(job_ids))
    assert (len(lost), duplicated, unexpected) == (0, {}, set()), \
        (f"of {len(expected)} accepted requests, {len(lost)} not indexed (e.g. {lost[:3]}), "
         f"{len(duplicated)} indexed more than once, {len(unexpected)} unknown ids in the index")
    assert len(events) == len(sync_ids) + len(job_ids) == len(expected)
    assert {e["status"] for e in events} == {"ok"}
    assert deployed.stream_settled() and deployed.direct.xlen(f"{STREAM}:dead") == 0


def _accepted_after(load: Load, before: int, extra: int, since: float, hold_s: float = 0.0) -> bool:
    return len(load.accepted()) >= before + extra and time.monotonic() - since >= hold_s


def test_elasticsearch_outage_under_http_load_loses_and_duplicates_nothing(tiny_bundle: Path,
                                                                           tmp_path: Path) -> None:
    applications = synthetic_applications(50, seed=41)
    with deployment(tiny_bundle, tmp_path, worker=True) as deployed, \
            Load(deployed.api, applications, ("score", "job"), threads=3) as load:
        deployed.wait_for(lambda: (deployed.events() or []) and len(load.accepted("job")) > 10, START_TIMEOUT_S,
                          "first events indexed through the proxy")
        deployed.es_proxy.stop()  # Elasticsearch "goes down" for the indexer
        cut, since = len(load.accepted()), time.monotonic()
        deployed.wait_for(lambda: "entries not stored" in deployed.services["indexer"].output(), WAIT_TIMEOUT_S,
                          "the indexer failing to store a batch")
        assert deployed.ready()[0] == 200  # Elasticsearch is no dependency of the gateway
        deployed.wait_for(lambda: _accepted_after(load, cut, DURING_CUT, since, CUT_S), WAIT_TIMEOUT_S,
                          f"{DURING_CUT} requests accepted while Elasticsearch is down")
        # their events wait in the stream, unacknowledged (the sync half at least, published without delay)
        deployed.wait_for(lambda: deployed.waiting() >= DURING_CUT // 2, WAIT_TIMEOUT_S,
                          "the events of the outage waiting in the stream")
        deployed.es_proxy.start()  # back
        back, since = len(load.accepted()), time.monotonic()
        deployed.wait_for(lambda: _accepted_after(load, back, AFTER_CUT, since), WAIT_TIMEOUT_S,
                          f"{AFTER_CUT} requests accepted after the outage")
        load.stop()
        assert load.errors == [] and load.refused() == []
        assert load.accepted("score") and load.accepted("job")
        assert_each_indexed_once(deployed, load)


def test_redis_outage_on_the_sync_path_spools_reports_and_forwards(tiny_bundle: Path, tmp_path: Path) -> None:
    applications = synthetic_applications(50, seed=43)
    with deployment(tiny_bundle, tmp_path, worker=False) as deployed, \
            Load(deployed.api, applications, ("score",), threads=2) as load:
        deployed.wait_for(lambda: deployed.events(), START_TIMEOUT_S, "first events indexed")
        deployed.redis_proxy.stop()  # Redis "goes down" for the gateway
        cut, since = len(load.accepted()), time.monotonic()

        def spooling() -> dict[str, Any] | None:
            status, body = deployed.ready()
            return body if status == 503 and body["checks"]["events"]["spooled"] > 0 else None

        ready = deployed.wait_for(spooling, WAIT_TIMEOUT_S, "/health/ready reporting the spool")
        assert ready["status"] == "not_ready"
        assert ready["checks"]["redis"]["ok"] is False and ready["checks"]["redis"]["error"]
        assert ready["checks"]["events"]["redis_ok"] is False and ready["checks"]["events"]["dropped"] == 0
        assert ready["checks"]["model"]["ok"] is True
        metrics = deployed.wait_for(lambda: (m := deployed.metrics()).get("gateway_events_spooled", 0) > 0 and m,
                                    WAIT_TIMEOUT_S, "/metrics reporting the spool")
        assert metrics["gateway_events_redis_ok"] == 0 and metrics["gateway_events_dropped"] == 0
        deployed.wait_for(lambda: _accepted_after(load, cut, DURING_CUT, since, CUT_S), WAIT_TIMEOUT_S,
                          f"{DURING_CUT} requests scored while Redis is down")
        deployed.redis_proxy.start()  # back
        back, since = len(load.accepted()), time.monotonic()

        def forwarded() -> bool:
            status, body = deployed.ready()
            events = body["checks"]["events"]
            return status == 200 and events["spooled"] == 0 and events["redis_ok"] is True

        deployed.wait_for(forwarded, WAIT_TIMEOUT_S, "the spool forwarded once Redis is back")
        deployed.wait_for(lambda: _accepted_after(load, back, AFTER_CUT, since), WAIT_TIMEOUT_S,
                          f"{AFTER_CUT} requests accepted after the outage")
        load.stop()
        assert load.errors == [] and load.refused() == []  # scoring never waited for Redis
        metrics = deployed.metrics()
        assert metrics["gateway_events_spooled"] == 0 and metrics["gateway_events_dropped"] == 0
        assert metrics["gateway_events_redis_ok"] == 1
        assert_each_indexed_once(deployed, load)

