"""Container health checks for the services that serve no HTTP (standard library, redis, rq).

Used by the HEALTHCHECK of Dockerfile.worker and by compose.yaml (the indexer, the
monitoring scheduler). Exit status 0 = healthy, 1 = unhealthy (the reason on stderr), as
Docker expects. Settings come from the same environment variables as the services.

    python deploy/healthcheck.py rq-worker                 an RQ worker of this container is registered
    python deploy/healthcheck.py deps                      Redis and Elasticsearch answer
    python deploy/healthcheck.py dashboard                 the dashboard answers (200, or 401 asking for its login)

The indexer and the scheduler get `deps`: their own failure ends PID 1 and so the container;
what a health check adds for them is whether what they work with answers. (A stream-consumer
idle check was tried and dropped: Redis 7.0 registers a consumer only once an entry is
delivered, so an indexer waiting on an empty stream would look unhealthy.)
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Callable

TIMEOUT_S = 4.0


def _redis():  # type: ignore[no-untyped-def]
    import redis  # imported here: the `deps` check also runs where only urllib is needed

    url = os.environ.get("REDIS_URL")
    if not url:
        raise RuntimeError("REDIS_URL is not set")
    return redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)


def check_rq_worker(_: argparse.Namespace) -> str:
    """Healthy when a worker of this container (same hostname) is registered in Redis.

    RQ drops a worker's key when its heartbeat stops (worker TTL), so a registered
    worker is a live one; with ``--scale worker=N`` each container checks its own.
    """
    from rq import Worker

    host = socket.gethostname()
    mine = [w for w in Worker.all(connection=_redis()) if w.hostname == host]
    if not mine:
        raise RuntimeError(f"no RQ worker registered from host {host}")
    return f"{len(mine)} RQ worker(s) registered from {host}"


def check_deps(_: argparse.Namespace) -> str:
    """Healthy when the configured Redis answers PING and Elasticsearch its cluster health."""
    seen = []
    if os.environ.get("REDIS_URL"):
        _redis().ping()
        seen.append("redis")
    es = os.environ.get("ELASTICSEARCH_URL")
    if es:
        # GET / is absent on the core distribution used in tests: ask the cluster health
        _es_health(es.split(",")[0].strip())  # several nodes of one cluster: the first one answers for it
        seen.append("elasticsearch")
    return "reachable: " + (", ".join(seen) or "nothing configured (embedded mode)")


def _es_health(url: str) -> None:
    """GET /_cluster/health with the services' credentials and CA (ELASTICSEARCH_USERNAME/PASSWORD or _API_KEY)."""
    headers = {}
    user, password = os.environ.get("ELASTICSEARCH_USERNAME"), os.environ.get("ELASTICSEARCH_PASSWORD")
    if os.environ.get("ELASTICSEARCH_API_KEY"):
        headers["Authorization"] = f"ApiKey {os.environ['ELASTICSEARCH_API_KEY']}"
    elif user and password:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    context = ssl.create_default_context(cafile=os.environ.get("ELASTICSEARCH_CA_CERTS") or None)
    request = urllib.request.Request(url.rstrip("/") + "/_cluster/health", headers=headers)
    urllib.request.urlopen(request, timeout=TIMEOUT_S, context=context).close()


def check_dashboard(_: argparse.Namespace) -> str:
    """Healthy when the dashboard answers on DASH_PORT: 200, or 401 with its basic-authentication challenge."""
    url = f"http://127.0.0.1:{os.environ.get('DASH_PORT', '8050')}/"
    try:
        urllib.request.urlopen(url, timeout=TIMEOUT_S).close()
    except urllib.error.HTTPError as exc:
        if exc.code == 401 and exc.headers.get("WWW-Authenticate", "").startswith("Basic"):
            return "dashboard answers (login required)"
        raise
    return "dashboard answers (open: ALLOW_OPEN_DASHBOARD)"


CHECKS: dict[str, Callable[[argparse.Namespace], str]] = {
    "rq-worker": check_rq_worker,
    "deps": check_deps,
    "dashboard": check_dashboard,
}


def main(argv: list[str] | None = None) -> int:
    """Run one check; print its verdict; 0 when healthy, 1 otherwise."""
    parser = argparse.ArgumentParser(description="container health checks")
    parser.add_argument("check", choices=sorted(CHECKS))
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(CHECKS[args.check](args) + "\n")
    except Exception as exc:  # any failure is "unhealthy", with its reason for `docker inspect`
        sys.stderr.write(f"unhealthy: {type(exc).__name__}: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
