"""``python -m worker``: its commands and its refusals."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from worker.__main__ import main


@pytest.fixture(autouse=True)
def _keep_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    monkeypatch.delenv("REDIS_URL", raising=False)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_the_pool_needs_redis() -> None:
    with pytest.raises(SystemExit, match="REDIS_URL is required for the worker pool"):
        main(["pool", "--processes", "1"])


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([])
    assert "pool" in capsys.readouterr().err
