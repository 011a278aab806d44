"""Fixtures shared by the integration tests of the event pipeline (real Redis, real Elasticsearch)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis as redis_lib

from shared.store.elastic import ElasticsearchEventStore
from tests.shared.store.conftest import make_es_store
from tests.utils.servers import require_redis


@pytest.fixture
def redis_client() -> redis_lib.Redis:
    """A client of the test Redis."""
    return redis_lib.Redis.from_url(require_redis(), socket_timeout=10)


@pytest.fixture
def stream(redis_client: redis_lib.Redis) -> Iterator[str]:
    """A fresh events stream name; the stream, its dead letters and its loss records are deleted after."""
    name = f"test:events:{uuid.uuid4().hex[:8]}"
    yield name
    redis_client.delete(name, f"{name}:dead", f"{name}:lost")


@pytest.fixture
def es_store() -> Iterator[ElasticsearchEventStore]:
    """An Elasticsearch store on its own index prefix, dropped after."""
    store = make_es_store()
    assert isinstance(store, ElasticsearchEventStore)
    yield store
    store.drop_all()
    store.close()
