"""The `ready` process of the Procfile: wait until the whole stack answers, then print where it is.

Checks, every second, until all pass:
  gateway    GET /health/ready answers 200 (else its body says which dependency is down)
  dashboard  GET / answers 200
  worker     WORKER_PROCESSES RQ workers born since this start listen on QUEUE_NAME
  indexer    the consumer INDEXER_CONSUMER (named by scripts/stack.sh) reads the event stream
While waiting it says what is still missing (when that changes, or every 15 s); once all
pass it prints the URLs and then sleeps until honcho stops it. It never exits on its own
(honcho would stop the whole stack if it did).

Environment: HOST / API_PORT, DASH_HOST / DASH_PORT, REDIS_URL, QUEUE_NAME, EVENTS_STREAM,
INDEXER_GROUP, INDEXER_CONSUMER, WORKER_PROCESSES, STACK_DEV_API_KEY (a development key to show),
STACK_DEV_DASHBOARD_USER (``NAME PASSWORD`` of the development dashboard user: shown, and used to probe),
STACK_READY_TIMEOUT.
"""

from __future__ import annotations

import base64
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from redis import Redis
from rq import Queue, Worker

POLL_S = 1.0
REPEAT_S = 15.0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _probe_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=3) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Probe:
    """The four checks; each returns None when it passes, else a short reason."""

    def __init__(self, env: dict[str, str]) -> None:
        self.api = f"http://{_probe_host(env.get('HOST', '127.0.0.1'))}:{env.get('API_PORT', '8000')}"
        self.dash = f"http://{_probe_host(env.get('DASH_HOST', '127.0.0.1'))}:{env.get('DASH_PORT', '8050')}"
        self.redis = Redis.from_url(env.get("REDIS_URL", "redis://127.0.0.1:6379/0"), socket_timeout=3)
        self.queue = Queue(env.get("QUEUE_NAME", "scoring"), connection=self.redis)
        self.stream = env.get("EVENTS_STREAM", "scoring:events")
        self.group = env.get("INDEXER_GROUP", "indexer")
        self.consumer = env.get("INDEXER_CONSUMER")
        self.processes = int(env.get("WORKER_PROCESSES", "2"))
        # workers of an earlier run may still be registered for a while: count only ours
        self.since = datetime.now(UTC) - timedelta(seconds=5)
        self.model_version = "?"
        user = env.get("STACK_DEV_DASHBOARD_USER", "").split()
        self.dash_headers = ({"Authorization": "Basic " + base64.b64encode(":".join(user).encode()).decode()}
                             if len(user) == 2 else {})

    def gateway(self) -> str | None:
        try:
            status, body = _get(f"{self.api}/health/ready")
        except OSError as exc:
            return f"no answer ({getattr(exc, 'reason', exc)})"
        try:
            checks: dict[str, Any] = orjson.loads(body).get("checks", {})
        except (orjson.JSONDecodeError, AttributeError):
            return f"HTTP {status}"
        self.model_version = checks.get("model", {}).get("model_version", "?")
        if status == 200:
            return None
        down = [f"{name}: {check.get('error', 'down')}" for name, check in checks.items() if not check.get("ok")]
        return f"HTTP {status}, " + "; ".join(down or ["not ready"])

    def dashboard(self) -> str | None:
        try:
            status, _ = _get(f"{self.dash}/", self.dash_headers)
        except OSError as exc:
            return f"no answer ({getattr(exc, 'reason', exc)})"
        # without the development user's password (DASHBOARD_USERS set by hand) the login page answers: it is up
        return None if status == 200 or (status == 401 and not self.dash_headers) else f"HTTP {status}"

    def worker(self) -> str | None:
        try:
            workers = Worker.all(queue=self.queue)
        except Exception as exc:  # Redis down: say so, keep waiting
            return f"Redis: {type(exc).__name__}: {exc}"
        ours = [w for w in workers if w.birth_date is None or w.birth_date.replace(tzinfo=UTC) >= self.since]
        return None if len(ours) >= self.processes else f"{len(ours)}/{self.processes} RQ workers up"

    def indexer(self) -> str | None:
        try:
            consumers = self.redis.xinfo_consumers(self.stream, self.group)
        except Exception as exc:  # no stream or group yet: the indexer creates them
            return f"no consumer group yet ({type(exc).__name__})"
        names = {_text(c.get("name")) for c in consumers}
        if self.consumer:  # this run's indexer (scripts/stack.sh names it): its first read registers it
            return None if self.consumer in names else f"consumer {self.consumer} not reading the stream yet"
        # a consumer's idle time is not reset by an empty blocking read before Redis 7.2: a weaker check
        return None if names else "no consumer of the event stream"

    def missing(self) -> dict[str, str]:
        """What is not up yet, by process name."""
        checks = {"gateway": self.gateway, "dashboard": self.dashboard, "worker": self.worker, "indexer": self.indexer}
        return {name: reason for name, check in checks.items() if (reason := check()) is not None}


def banner(probe: Probe, env: dict[str, str], elapsed: float) -> str:
    """The lines printed once everything answers."""
    key = env.get("STACK_DEV_API_KEY")
    if key:
        key_line = f"  API key    {key}  (development key, kept in var/dev-api-key; set API_KEYS to use yours)"
    elif env.get("API_KEYS"):
        key_line = "  API key    one of API_KEYS (header X-API-Key)"
    else:
        key_line = "  API key    NONE: ALLOW_NO_API_KEY=true, anyone reaching the port can score (development only)"
    user = env.get("STACK_DEV_DASHBOARD_USER", "").split()
    if len(user) == 2:
        user_line = f"  Dashboard user: {user[0]} {user[1]}  (development user, kept in var/dev-dashboard-user)"
    elif env.get("ALLOW_OPEN_DASHBOARD", "").lower() in ("1", "true", "yes", "on") and not env.get("DASHBOARD_USERS"):
        user_line = "  Dashboard user: NONE: ALLOW_OPEN_DASHBOARD=true, the dashboard is open (development only)"
    else:
        user_line = "  Dashboard user: one of DASHBOARD_USERS (HTTP basic authentication)"
    example = key or ("<one of API_KEYS>" if env.get("API_KEYS") else "")
    header = f"-H 'X-API-Key: {example}' " if example else ""
    rule = "=" * 78
    return "\n".join([
        rule,
        f"  stack ready in {elapsed:.0f} s: model {probe.model_version}, "
        f"{env.get('WEB_CONCURRENCY', '2')} API processes, {probe.processes} RQ workers, indexer consuming",
        f"  API        {probe.api}",
        f"  API docs   {probe.api}/docs",
        f"  Dashboard  {probe.dash}",
        user_line,
        key_line,
        f"  try        curl -s {header}{probe.api}/v1/model",
        "  Ctrl-C stops every process of the stack.",
        rule,
    ])


def main() -> int:
    """Wait for the stack, print the banner, then sleep until stopped."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    env = dict(os.environ)
    probe = Probe(env)
    timeout = float(env.get("STACK_READY_TIMEOUT", "300"))
    start = last_said = time.monotonic()
    last: dict[str, str] = {}
    print("waiting for gateway, dashboard, worker pool and indexer ...", flush=True)
    while missing := probe.missing():
        now = time.monotonic()
        if set(missing) != set(last) or now - last_said >= REPEAT_S:
            late = "  STILL NOT READY after the timeout: check the logs above" if now - start > timeout else ""
            print(f"[{now - start:.0f} s] waiting for: " + "; ".join(f"{k} ({v})" for k, v in missing.items()) + late,
                  flush=True)
            last, last_said = missing, now
        time.sleep(POLL_S)
    print(banner(probe, env, time.monotonic() - start), flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
