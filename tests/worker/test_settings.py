"""WorkerSettings: the indexer's linger after a short batch."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from worker.settings import WorkerSettings


@pytest.mark.parametrize(("value", "message"), [("-1", "greater than or equal to 0"), ("soon", "valid integer")])
def test_an_indexer_linger_out_of_range_or_of_the_wrong_type_is_refused_at_start(
        monkeypatch: pytest.MonkeyPatch, value: str, message: str) -> None:
    monkeypatch.setenv("INDEXER_LINGER_MS", value)
    with pytest.raises(ValidationError, match=message):
        WorkerSettings()


def test_the_indexer_linger_defaults_to_200_ms_and_0_reads_again_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INDEXER_LINGER_MS", raising=False)
    assert WorkerSettings().indexer_linger_ms == 200
    monkeypatch.setenv("INDEXER_LINGER_MS", "0")
    assert WorkerSettings().indexer_linger_ms == 0
