"""The ``store`` fixture: every contract test runs on SQLite and on a real Elasticsearch.

Each Elasticsearch test gets its own index prefix (``test-<uuid8>``), whose
indices and template are deleted before and after it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.store.base import EventStore
from tests.utils.servers import require_elasticsearch


def make_es_store() -> EventStore:
    """A set-up Elasticsearch store on a fresh test prefix (skips when no server answers)."""
    from shared.store.elastic import ElasticsearchEventStore

    store = ElasticsearchEventStore(require_elasticsearch(), f"test-{uuid.uuid4().hex[:8]}")
    store.drop_all()
    store.setup()
    return store


@pytest.fixture(params=[
    pytest.param("sqlite"),
    pytest.param("elasticsearch", marks=pytest.mark.integration),
])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    """A set-up, empty store of each kind."""
    if request.param == "sqlite":
        from shared.store.sqlite import SQLiteEventStore

        sqlite_store = SQLiteEventStore(tmp_path / "events.sqlite3")
        sqlite_store.setup()
        yield sqlite_store
        sqlite_store.close()
        return
    es_store = make_es_store()
    try:
        yield es_store
    finally:
        es_store.drop_all()  # type: ignore[attr-defined]
        es_store.close()
