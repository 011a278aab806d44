"""Fixtures of the monitoring tests: a tiny bundle (reference sample), settings, a SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitoring.settings import MonitoringSettings
from shared.store.sqlite import SQLiteEventStore
from tests.monitoring.factories import dashboard_users, make_applications, write_bundle

REFERENCE_ROWS = 4000


@pytest.fixture(scope="session")
def reference_rows() -> list[dict]:
    """The reference sample: profile-drawn applications with scores."""
    return make_applications(REFERENCE_ROWS, seed=1)


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory, reference_rows: list[dict]) -> Path:
    """A model bundle folder holding only what monitoring reads."""
    return write_bundle(tmp_path_factory.mktemp("bundle"), reference_rows)


@pytest.fixture(scope="session")
def fitted_calculator(reference_rows: list[dict]):
    """A calculator fitted once on the reference, with the test settings' minimums."""
    from monitoring.drift.calculator import DriftCalculator, DriftConfig

    return DriftCalculator(DriftConfig(min_rows=300, min_feature_rows=50)).fit(reference_rows, "test-1")


@pytest.fixture
def settings(tmp_path: Path, bundle_dir: Path, monkeypatch: pytest.MonkeyPatch) -> MonitoringSettings:
    """Settings on a temporary SQLite file and reports folder, small drift minimums, the test dashboard login."""
    for name in ("REDIS_URL", "ELASTICSEARCH_URL"):
        monkeypatch.delenv(name, raising=False)
    return MonitoringSettings(
        model_dir=bundle_dir, sqlite_path=tmp_path / "events.sqlite3", reports_dir=tmp_path / "reports",
        drift_min_rows=300, drift_min_feature_rows=50, drift_html_max_features=3, anomaly_cooldown_seconds=900,
        dashboard_users=dashboard_users(),
    )


@pytest.fixture
def store(settings: MonitoringSettings) -> Iterator[SQLiteEventStore]:
    """An empty, set-up SQLite store."""
    sqlite_store = SQLiteEventStore(settings.sqlite_path)
    sqlite_store.setup()
    yield sqlite_store
    sqlite_store.close()
