"""make_store picks the adapter from the settings; embedded mode never imports the Elasticsearch client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import BaseServiceSettings
from shared.store.factory import describe, make_store
from shared.store.sqlite import SQLiteEventStore


def test_sqlite_when_no_elasticsearch_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)
    store = make_store(BaseServiceSettings(sqlite_path=tmp_path / "e.sqlite3"))
    assert isinstance(store, SQLiteEventStore)
    assert describe(store) == f"sqlite {tmp_path / 'e.sqlite3'}"


def test_the_store_pseudonymises_with_the_settings_key(tmp_path: Path) -> None:
    from shared.pseudonym import pseudonymise

    store = make_store(BaseServiceSettings(sqlite_path=tmp_path / "e.sqlite3", pseudonymisation_key="factory-key"))
    assert store.pseudonymiser.text("SK_ID_CURR=12") == f"SK_ID_CURR={pseudonymise(12, 'factory-key')}"


def test_elasticsearch_when_url_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.store.elastic import ElasticsearchEventStore

    monkeypatch.setenv("ELASTICSEARCH_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ES_INDEX_PREFIX", "test-factory")
    store = make_store(BaseServiceSettings())
    assert isinstance(store, ElasticsearchEventStore) and store.prefix == "test-factory"
    assert describe(store) == "elasticsearch prefix=test-factory"
    store.close()


def test_embedded_mode_never_imports_the_client(tmp_path: Path) -> None:
    code = ("import sys; from shared.settings import BaseServiceSettings; from shared.store.factory import make_store;"
            f"s = make_store(BaseServiceSettings(sqlite_path='{tmp_path}/e.sqlite3')); s.setup();"
            "assert 'elasticsearch' not in sys.modules, 'elasticsearch imported'; print(type(s).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
                         check=True, cwd=Path(__file__).resolve().parents[3])
    assert out.stdout.strip() == "SQLiteEventStore"
