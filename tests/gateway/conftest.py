"""Fixtures of the gateway tests: a model bundle, and an embedded-mode app (``embedded.app``) factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from embedded.app import create_app
from gateway.settings import GatewaySettings
from shared.scorer import Scorer

API_KEYS = ("test-key-one", "test-key-two")
HEADERS = {"X-API-Key": API_KEYS[0]}


@pytest.fixture(scope="session")
def bundle_dir(tiny_bundle: Path) -> Path:
    """The session's real tiny bundle (tests/conftest.py)."""
    return tiny_bundle


@pytest.fixture(scope="session")
def scorer(bundle_dir: Path) -> Scorer:
    """The bundle, loaded the way the gateway loads it: the reference for offline scores."""
    return Scorer.load(bundle_dir)


@pytest.fixture
def gateway_settings(bundle_dir: Path, tmp_path: Path) -> Callable[..., GatewaySettings]:
    """Settings of an embedded-mode gateway, isolated from the environment (overrides as keywords)."""

    def make(**overrides: Any) -> GatewaySettings:
        values: dict[str, Any] = {
            "redis_url": None, "elasticsearch_url": None, "environment": "development",
            "model_dir": bundle_dir, "api_keys": ",".join(API_KEYS), "allow_no_api_key": False,
            "spool_dir": tmp_path / "spool", "sqlite_path": tmp_path / "events.sqlite3",
            "embedded_indexer": False, "access_log": False, "pseudonymisation_key": "test-pseudonymisation-key",
        }
        values.update(overrides)
        return GatewaySettings(**values)

    return make


@pytest.fixture
def make_client(gateway_settings: Callable[..., GatewaySettings]) -> Iterator[Callable[..., TestClient]]:
    """Start apps (lifespan included) with the given setting overrides; all are stopped at teardown."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        client = TestClient(create_app(gateway_settings(**overrides)), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """An embedded-mode gateway with API keys, in-process worker, no indexer."""
    return make_client()


def post_json(client: TestClient, url: str, payload: Any, headers: dict[str, str] | None = None) -> Any:
    """POST ``payload`` as JSON bytes with the test API key."""
    return client.post(url, content=orjson.dumps(payload),
                       headers=HEADERS if headers is None else headers)


def events(client: TestClient) -> list[dict[str, Any]]:
    """Every event on the (fake) stream so far, oldest first."""
    resources = client.app.state.resources  # type: ignore[attr-defined]
    assert resources.publisher.flush(5.0)
    stream = resources.settings.events_stream
    return [orjson.loads(fields[b"event"]) for _, fields in resources.redis.xrange(stream)]
