"""The retention job and its command line, on the SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.store.sqlite import SQLiteEventStore
from tests.utils.events import make_event
from worker.retention import apply_retention, main


def test_apply_retention_drops_old_days(tmp_path: Path) -> None:
    now = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    store = SQLiteEventStore(tmp_path / "e.sqlite3")
    store.setup()
    store.index_events([make_event(now - timedelta(days=d)) for d in (40, 31, 30, 1)])
    assert apply_retention(store, 30, now) == 2
    assert store.count_events() == 2
    with pytest.raises(ValueError):
        apply_retention(store, 0, now)


def test_command_line_uses_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "events.sqlite3"
    monkeypatch.setenv("SQLITE_PATH", str(path))
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)
    store = SQLiteEventStore(path)
    store.setup()
    now = datetime.now(UTC)
    store.index_events([make_event(now - timedelta(days=d)) for d in (100, 95, 2, 0)])
    assert main(["--days", "90"]) == 0
    assert "dropped 2 day(s)" in capsys.readouterr().out
    assert store.count_events() == 2
    with pytest.raises(SystemExit):
        main(["--days", "0"])
