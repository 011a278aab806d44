"""Smoke test of a deployed multi-process stack: score one application, find its event in Elasticsearch.

Standard library only (it runs on the deploy host or a CI runner without the project):

1. waits for the gateway's ``/health/ready``;
2. ``POST /v1/score`` with ``deploy/smoke_application.json`` (a valid application);
3. polls Elasticsearch for the answer's event in ``<prefix>-events-*`` (by ``event_id``, or by
   ``request_id`` where the answer carries no ``event_id``): the event went
   gateway -> Redis Stream -> indexer -> Elasticsearch, the path the benchmarks measured.

Exit code 0 when the event is found, 1 otherwise (with what was seen).

    python3 deploy/smoke_stack.py --gateway http://127.0.0.1:8000 --elasticsearch http://127.0.0.1:9200 \
        [--prefix scoring] [--timeout 120]      # API key from $SMOKE_API_KEY (or $API_KEYS' first)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

APPLICATION = Path(__file__).resolve().parent / "smoke_application.json"


def _say(message: str) -> None:
    sys.stdout.write(f"[smoke-stack] {message}\n")
    sys.stdout.flush()


def _request(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
             timeout: float = 10.0) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - our own URLs
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")[:500]


def wait_ready(gateway: str, deadline: float) -> None:
    """Wait until ``/health/ready`` answers 200."""
    last: Any = None
    while time.monotonic() < deadline:
        try:
            status, last = _request("GET", f"{gateway}/health/ready")
            if status == 200:
                return
        except OSError as exc:
            last = str(exc)
        time.sleep(2)
    raise SystemExit(f"gateway not ready: {last}")


def find_event(elasticsearch: str, prefix: str, answer: dict[str, Any], deadline: float) -> dict[str, Any] | None:
    """The stored event of an answer (by its ``event_id``, else by its ``request_id``), polled until ``deadline``."""
    if answer.get("event_id"):
        query: dict[str, Any] = {"query": {"ids": {"values": [answer["event_id"]]}}, "size": 1}
    else:
        query = {"query": {"term": {"request_id": answer["request_id"]}}, "size": 1}
    while time.monotonic() < deadline:
        try:
            status, body = _request("POST", f"{elasticsearch}/{prefix}-events-*/_search?ignore_unavailable=true",
                                    query)
            hits = body.get("hits", {}).get("hits", []) if status == 200 and isinstance(body, dict) else []
            if hits:
                return dict(hits[0]["_source"])
        except OSError:
            pass
        time.sleep(2)
    return None


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    parser.add_argument("--elasticsearch", default="http://127.0.0.1:9200")
    parser.add_argument("--prefix", default=os.environ.get("ES_INDEX_PREFIX", "scoring"))
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    key = os.environ.get("SMOKE_API_KEY") or os.environ.get("API_KEYS", "").split(",")[0].strip()
    deadline = time.monotonic() + args.timeout
    wait_ready(args.gateway, deadline)
    application = json.loads(APPLICATION.read_text())
    status, answer = _request("POST", f"{args.gateway}/v1/score", application, {"X-API-Key": key})
    if status != 200 or not isinstance(answer, dict) or not (answer.get("event_id") or answer.get("request_id")):
        _say(f"FAIL: POST /v1/score answered {status}: {answer}")
        return 1
    ref = f"event {answer['event_id']}" if answer.get("event_id") else f"request {answer['request_id']}"
    _say(f"scored: {answer.get('decision')} (p={answer.get('probability')}), {ref}")
    event = find_event(args.elasticsearch, args.prefix, answer, deadline)
    if event is None:
        _say(f"FAIL: event of {ref} not in {args.prefix}-events-* within {args.timeout:.0f} s")
        return 1
    _say(f"stored: event {event.get('event_id')} status {event.get('status')}, model {event.get('model_version')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
