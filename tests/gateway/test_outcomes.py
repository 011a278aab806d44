"""POST /v1/outcomes on an embedded gateway (SQLite store): envelope, items, counts, re-sends, OpenAPI."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.event import pseudonymise
from shared.store.sqlite import SQLiteEventStore
from tests.gateway.conftest import HEADERS, post_json
from tests.utils.events import make_event

KEY = "test-pseudonymisation-key"  # the gateway_settings fixture's
OBSERVED = "2026-12-01T00:00:00Z"


def eid(i: int) -> str:
    return f"{i:032x}"


@pytest.fixture
def outcome_client(make_client: Callable[..., TestClient], tmp_path: Path) -> TestClient:
    """A gateway whose SQLite store holds four scored events (client 100001 twice) and a refused input."""
    store = SQLiteEventStore(tmp_path / "events.sqlite3")
    store.setup()
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    store.index_events([
        make_event(t0 + timedelta(minutes=i), event_id=eid(i), request_id=f"req-{i}", score=i / 10,
                   client_ref=pseudonymise(100000 + (i + 1) // 2, KEY)) for i in range(1, 5)
    ] + [make_event(t0, status="invalid", event_id=eid(9), request_id="req-9")])
    store.close()
    return make_client()


def items(*refs: dict[str, Any], defaulted: bool = True) -> dict[str, Any]:
    return {"outcomes": [{**ref, "defaulted": defaulted, "observed_at": OBSERVED} for ref in refs]}


def test_outcomes_are_stored_and_counted(outcome_client: TestClient, tmp_path: Path) -> None:
    response = post_json(outcome_client, "/v1/outcomes",
                         items({"event_id": eid(1)}, {"request_id": "req-3"}, {"SK_ID_CURR": 100002}))
    assert response.status_code == 200
    assert response.json() == {"accepted": 3, "updated": 0, "unchanged": 0, "errors": []}
    store = SQLiteEventStore(tmp_path / "events.sqlite3")
    stored = store.get_outcome(eid(4))  # client 100002's newest scored application
    assert stored is not None and stored["client_ref"] == pseudonymise(100002, KEY) and stored["defaulted"] is True
    store.close()


def test_resend_is_unchanged_and_a_change_is_updated(outcome_client: TestClient) -> None:
    post_json(outcome_client, "/v1/outcomes", items({"event_id": eid(1)}))
    again = post_json(outcome_client, "/v1/outcomes", items({"event_id": eid(1)}, {"request_id": "req-1"}))
    assert again.json() == {"accepted": 0, "updated": 0, "unchanged": 2, "errors": []}
    changed = post_json(outcome_client, "/v1/outcomes", items({"event_id": eid(1)}, defaulted=False))
    assert changed.json()["updated"] == 1


def test_bad_items_are_listed_by_index_and_field(outcome_client: TestClient) -> None:
    body = {"outcomes": [
        {"event_id": eid(1), "observed_at": OBSERVED},
        {"event_id": eid(2), "defaulted": "yes", "observed_at": OBSERVED},
        {"event_id": "E-42", "defaulted": True, "observed_at": OBSERVED},
        {"event_id": eid(3), "defaulted": True, "observed_at": "last tuesday"},
        {"event_id": eid(3), "defaulted": True, "observed_at": "2999-01-01T00:00:00Z"},
        {"event_id": eid(9), "defaulted": True, "observed_at": OBSERVED},
        {"event_id": eid(4), "defaulted": False, "observed_at": OBSERVED},
    ]}
    response = post_json(outcome_client, "/v1/outcomes", body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["accepted"] == 1
    assert [(e["index"], e["field"]) for e in answer["errors"]] == [
        (0, "defaulted"), (1, "defaulted"), (2, "event_id"), (3, "observed_at"), (4, "observed_at"), (5, "event_id")]
    assert answer["errors"][2]["rule"].startswith("unknown id format")
    assert answer["errors"][4]["rule"] == "in the future"


@pytest.mark.parametrize("body", [{"outcomes": []}, {"items": []}, [{"event_id": "x"}], {"outcomes": "x"},
                                  {"outcomes": [{}] * 10_001}])
def test_envelope_errors_are_422(outcome_client: TestClient, body: Any) -> None:
    response = post_json(outcome_client, "/v1/outcomes", body)
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error" and response.json()["errors"][0]["field"] in (
        "outcomes", "body")


def test_not_json_is_400_and_no_key_is_401(outcome_client: TestClient) -> None:
    assert outcome_client.post("/v1/outcomes", content=b"{nope", headers=HEADERS).status_code == 400
    assert post_json(outcome_client, "/v1/outcomes", items({"event_id": eid(1)}), headers={}).status_code == 401


def test_store_down_is_503_not_500(make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_text("x")
    client = make_client(sqlite_path=tmp_path / "not-a-dir" / "events.sqlite3")
    response = post_json(client, "/v1/outcomes", items({"event_id": eid(1)}))
    assert response.status_code == 503 and response.json()["error"] == "service_unavailable"


def test_openapi_documents_the_route(outcome_client: TestClient) -> None:
    schema = outcome_client.get("/openapi.json").json()
    operation = schema["paths"]["/v1/outcomes"]["post"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OutcomesAnswer"}
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OutcomesRequest"}
    assert {"OutcomesRequest", "OutcomeItem", "OutcomesAnswer", "OutcomeError"} <= set(schema["components"]["schemas"])
    assert {"401", "422", "503"} <= set(operation["responses"])
