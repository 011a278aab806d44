"""Locust scenarios of the scoring API: sync, async (submit then poll) and batch.

The applications come from a JSON-lines pool written beforehand by
``python -m benchmarks.payloads`` (realistic rows from the synthetic generator);
this file reads it and imports nothing of the project. A share of requests
(``LOCUST_INVALID_SHARE``, 5 % by default) is deliberately invalid; each kind must
get its documented answer (422 with one error per bad field, or 400 for a body
that is not JSON), else Locust counts a failure.

Users (pick one on the command line, as ``load_tests/run.py`` does):

- ``SyncUser``: ``POST /v1/score``;
- ``AsyncUser``: ``POST /v1/jobs`` then ``GET /v1/jobs/{id}`` until finished; the
  enqueue-to-finished time is reported as request type ``JOB``;
- ``BatchUser``: ``POST /v1/score/batch`` with ``LOCUST_BATCH_SIZE`` applications, a
  share of them invalid (reported by index in the answer).

Environment: LOCUST_APPLICATIONS (the pool, default results/data/applications.jsonl),
LOCUST_API_KEY, LOCUST_INVALID_SHARE (0.05), LOCUST_BATCH_SIZE (20), LOCUST_WAIT_MIN /
LOCUST_WAIT_MAX (seconds between tasks, 0.01 / 0.1), LOCUST_POLL_INTERVAL (0.02 s),
LOCUST_POLL_TIMEOUT (15 s).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser

ROOT = Path(__file__).resolve().parents[1]
POOL = Path(os.environ.get("LOCUST_APPLICATIONS", ROOT / "results" / "data" / "applications.jsonl"))
API_KEY = os.environ.get("LOCUST_API_KEY", "")
INVALID_SHARE = float(os.environ.get("LOCUST_INVALID_SHARE", "0.05"))
BATCH_SIZE = int(os.environ.get("LOCUST_BATCH_SIZE", "20"))
WAIT = (float(os.environ.get("LOCUST_WAIT_MIN", "0.01")), float(os.environ.get("LOCUST_WAIT_MAX", "0.1")))
POLL_INTERVAL = float(os.environ.get("LOCUST_POLL_INTERVAL", "0.02"))
POLL_TIMEOUT = float(os.environ.get("LOCUST_POLL_TIMEOUT", "15"))
HEADERS = {"Content-Type": "application/json", **({"X-API-Key": API_KEY} if API_KEY else {})}


def _load_pool(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise SystemExit(f"no application pool at {path}: run `.venv/bin/python -m benchmarks.payloads` first")
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


APPLICATIONS = _load_pool(POOL)

# Each invalid kind: (what to do to a valid application, the status it must get, the field named in the error).
Mutation = Callable[[dict[str, Any]], Any]
INVALID_KINDS: dict[str, tuple[Mutation, int, str | None]] = {
    "unknown_category": (lambda a: {**a, "CODE_GENDER": "Q"}, 422, "CODE_GENDER"),
    "negative_income": (lambda a: {**a, "AMT_INCOME_TOTAL": -5.0}, 422, "AMT_INCOME_TOTAL"),
    "text_for_number": (lambda a: {**a, "AMT_CREDIT": "a lot"}, 422, "AMT_CREDIT"),
    "missing_required": (lambda a: {k: v for k, v in a.items() if k != "DAYS_BIRTH"}, 422, "DAYS_BIRTH"),
    "extra_field": (lambda a: {**a, "FAVOURITE_COLOUR": "blue"}, 422, "FAVOURITE_COLOUR"),
    "malformed_json": (lambda a: json.dumps(a)[:-7], 400, None),
}


def valid_body() -> str:
    """One application of the pool, as JSON."""
    return json.dumps(random.choice(APPLICATIONS))


def invalid_case() -> tuple[str, str, int, str | None]:
    """(kind, body, expected status, expected field) of one invalid request."""
    kind = random.choice(list(INVALID_KINDS))
    mutate, status, field = INVALID_KINDS[kind]
    mutated = mutate(random.choice(APPLICATIONS))
    return kind, mutated if isinstance(mutated, str) else json.dumps(mutated), status, field


def check_refusal(response: Any, status: int, field: str | None) -> None:
    """An invalid request passes when it gets its status and, for a 422, names the bad field."""
    if response.status_code != status:
        response.failure(f"expected {status}, got {response.status_code}: {response.text[:200]}")
        return
    if field is not None:
        names = [e.get("field") for e in (response.json().get("errors") or [])]
        if field not in names:
            response.failure(f"the 422 does not name {field}: {names}")
            return
    response.success()


class SyncUser(FastHttpUser):
    """Scores one application at a time on the sync path."""

    wait_time = between(*WAIT)

    @task
    def score(self) -> None:
        """POST /v1/score, valid or (at INVALID_SHARE) invalid."""
        if random.random() < INVALID_SHARE:
            kind, body, status, field = invalid_case()
            with self.client.post("/v1/score", data=body, headers=HEADERS, name=f"/v1/score [invalid: {kind}]",
                                  catch_response=True) as response:
                check_refusal(response, status, field)
            return
        with self.client.post("/v1/score", data=valid_body(), headers=HEADERS, name="/v1/score",
                              catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
            elif response.json().get("decision") not in ("approved", "refused"):
                response.failure(f"no decision in {response.text[:200]}")


class AsyncUser(FastHttpUser):
    """Submits a job, then polls it until it is finished."""

    wait_time = between(*WAIT)

    @task
    def submit_and_poll(self) -> None:
        """POST /v1/jobs, then GET /v1/jobs/{id} until finished or failed."""
        if random.random() < INVALID_SHARE:
            kind, body, status, field = invalid_case()
            with self.client.post("/v1/jobs", data=body, headers=HEADERS, name=f"/v1/jobs [invalid: {kind}]",
                                  catch_response=True) as response:
                check_refusal(response, status, field)
            return
        started = time.perf_counter()
        with self.client.post("/v1/jobs", data=valid_body(), headers=HEADERS, name="/v1/jobs",
                              catch_response=True) as response:
            if response.status_code != 202:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
            job_id = response.json()["job_id"]
        self._poll(job_id, started)

    def _poll(self, job_id: str, started: float) -> None:
        deadline = started + POLL_TIMEOUT
        while time.perf_counter() < deadline:
            with self.client.get(f"/v1/jobs/{job_id}", headers=HEADERS, name="/v1/jobs/[id]",
                                 catch_response=True) as response:
                if response.status_code != 200:
                    response.failure(f"{response.status_code}: {response.text[:200]}")
                    return
                state = response.json()
            if state["status"] == "finished":
                self._job_event(started, None)
                return
            if state["status"] == "failed":
                self._job_event(started, RuntimeError(f"job failed: {state.get('reason')}"))
                return
            time.sleep(POLL_INTERVAL)
        self._job_event(started, TimeoutError(f"job {job_id} not finished after {POLL_TIMEOUT} s"))

    def _job_event(self, started: float, exception: Exception | None) -> None:
        events.request.fire(request_type="JOB", name="enqueue-to-finished (client side)",
                            response_time=(time.perf_counter() - started) * 1000, response_length=0,
                            exception=exception, context={})


class BatchUser(FastHttpUser):
    """Scores batches, a share of whose items are invalid."""

    wait_time = between(*WAIT)

    @task
    def score_batch(self) -> None:
        """POST /v1/score/batch; the invalid items must come back by index, the others scored."""
        items: list[Any] = []
        invalid: set[int] = set()
        for index in range(BATCH_SIZE):
            if random.random() < INVALID_SHARE:
                kind = random.choice([k for k in INVALID_KINDS if k != "malformed_json"])
                items.append(INVALID_KINDS[kind][0](random.choice(APPLICATIONS)))
                invalid.add(index)
            else:
                items.append(random.choice(APPLICATIONS))
        body = json.dumps({"applications": items})
        expected = 200 if len(invalid) < BATCH_SIZE else 422
        with self.client.post("/v1/score/batch", data=body, headers=HEADERS, name=f"/v1/score/batch [{BATCH_SIZE}]",
                              catch_response=True) as response:
            if response.status_code != expected:
                response.failure(f"expected {expected}, got {response.status_code}: {response.text[:200]}")
                return
            if expected == 200:
                answer = response.json()
                rejected = {e["index"] for e in answer["errors"]}
                scored = {r["index"] for r in answer["results"]}
                if rejected != invalid or len(scored) != BATCH_SIZE - len(invalid):
                    response.failure(f"rejected {sorted(rejected)} but sent invalid items at {sorted(invalid)}")
