"""Score synthetic applications through the API, send their outcomes back, run the performance command.

Shared by the embedded (SQLite) test and the Elasticsearch integration test of
``POST /v1/outcomes``: the same flow, two stores.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
from fastapi.testclient import TestClient

from shared.store.base import EventStore

BATCH = 500
INDEX_DEADLINE_S = 180  # a deadline, not a speed check: the machine may be busy


def applications_with_outcomes(n: int, seed: int) -> tuple[list[dict[str, Any]], np.ndarray]:
    """``n`` synthetic applications (API-ready) and whether each defaulted (the generator's TARGET)."""
    from training.data import to_records
    from training.synthetic import TARGET, generate

    frame = generate(n, seed=seed)
    return to_records(frame.drop(columns=[TARGET]), ints=True), frame[TARGET].to_numpy().astype(bool)


def score_all(client: TestClient, applications: list[dict[str, Any]], headers: dict[str, str]) -> list[dict[str, Any]]:
    """Score every application by batches; the results (``event_id``, ``probability``) in application order."""
    results: list[dict[str, Any]] = []
    for start in range(0, len(applications), BATCH):
        response = client.post("/v1/score/batch", content=orjson.dumps({"applications": applications[start:start
                                                                                                    + BATCH]}),
                               headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["rejected"] == 0, body["errors"][:3]
        results += sorted(body["results"], key=lambda r: r["index"])
    assert len(results) == len(applications)
    return results


def wait_indexed(store: EventStore, n: int) -> None:
    """Until the store holds ``n`` scored events (the indexer writes them shortly after the answers)."""
    deadline = time.monotonic() + INDEX_DEADLINE_S
    while True:
        store.refresh()
        count = store.count_events(status="ok")
        if count >= n:
            assert count == n
            return
        assert time.monotonic() < deadline, f"{count} of {n} events indexed after {INDEX_DEADLINE_S} s"
        time.sleep(0.5)


def outcome_items(applications: list[dict[str, Any]], results: list[dict[str, Any]], defaulted: np.ndarray,
                  by_client_every: int = 10) -> list[dict[str, Any]]:
    """One outcome per application: by ``event_id``, every ``by_client_every``-th by ``SK_ID_CURR``."""
    observed = datetime.now(UTC).isoformat()
    items = []
    for i, (app, result, bad) in enumerate(zip(applications, results, defaulted, strict=True)):
        ref = {"SK_ID_CURR": app["SK_ID_CURR"]} if i % by_client_every == 0 else {"event_id": result["event_id"]}
        items.append({**ref, "defaulted": bool(bad), "observed_at": observed})
    return items


def post_outcomes(client: TestClient, items: list[dict[str, Any]], headers: dict[str, str],
                  size: int = 1_000) -> dict[str, int]:
    """Send the items in requests of ``size``; the summed counts (errors fail the caller's test)."""
    total = {"accepted": 0, "updated": 0, "unchanged": 0}
    for start in range(0, len(items), size):
        response = client.post("/v1/outcomes", content=orjson.dumps({"outcomes": items[start:start + size]}),
                               headers=headers)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["errors"] == [], answer["errors"][:3]
        for key in total:
            total[key] += answer[key]
    return total
