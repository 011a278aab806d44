"""Fixtures of the worker tests: a model bundle, worker settings, a fake Redis, a clean runtime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import fakeredis
import pytest

from worker import tasks
from worker.pool import ScoringWorker
from worker.settings import WorkerSettings


@pytest.fixture(scope="session")
def worker_bundle(tiny_bundle: Path) -> Path:
    """The session's real tiny bundle (tests/conftest.py)."""
    return tiny_bundle


@pytest.fixture
def worker_settings(worker_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WorkerSettings:
    """Settings of a test worker; installed as the ScoringWorker class default for the test."""
    settings = WorkerSettings(redis_url=None, elasticsearch_url=None, model_dir=worker_bundle,
                              spool_dir=tmp_path / "spool", pseudonymisation_key="worker-test-key",
                              maintenance_interval_s=1, abandoned_grace_s=1)
    monkeypatch.setattr(ScoringWorker, "settings", settings)
    return settings


@pytest.fixture
def fake_redis() -> fakeredis.FakeRedis:
    """A fresh in-memory Redis."""
    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


@pytest.fixture(autouse=True)
def _fresh_runtime() -> Iterator[None]:
    """Each test starts without a loaded runtime, and leaves none behind."""
    tasks.close_runtime()
    yield
    tasks.close_runtime()
