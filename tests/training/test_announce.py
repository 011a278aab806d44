"""After a registry move: the model event stored, the champion and challenger published for serving."""

from __future__ import annotations

from pathlib import Path

import fakeredis
import pytest
import redis

from shared.champion import CHALLENGER_KEY, CHAMPION_KEY, ChampionNotice
from shared.settings import BaseServiceSettings
from shared.store.sqlite import SQLiteEventStore
from training import announce
from training.registry import Move


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> fakeredis.FakeRedis:
    server = fakeredis.FakeServer()
    monkeypatch.setattr(redis.Redis, "from_url", classmethod(lambda cls, *a, **k: fakeredis.FakeRedis(server=server)))
    return fakeredis.FakeRedis(server=server)


def test_record_and_publish(fake: fakeredis.FakeRedis, tmp_path: Path) -> None:
    settings = BaseServiceSettings(redis_url="redis://127.0.0.1:1/0", sqlite_path=tmp_path / "s.sqlite3")
    move = Move("promote", "1", "2", forced=True, gate={"passed": False, "checks": []}, bundle_uri="file:///b")
    document = announce.record(move, settings)
    store = SQLiteEventStore(settings.sqlite_path)
    store.setup()
    assert store.list_model_events()[0]["model_event_id"] == document["model_event_id"]
    assert store.list_model_events()[0]["forced"] is True
    notice = announce.publish(move, settings)
    assert notice is not None and ChampionNotice.from_json(fake.get(CHAMPION_KEY)) == notice
    assert announce.publish_challenger("3", "file:///c", settings)
    assert ChampionNotice.from_json(fake.get(CHALLENGER_KEY)).model_version == "3"  # type: ignore[union-attr]
    assert announce.publish_challenger(None, None, settings) and fake.get(CHALLENGER_KEY) is None


def test_nothing_published_without_redis(tmp_path: Path) -> None:
    settings = BaseServiceSettings(redis_url=None, sqlite_path=tmp_path / "s.sqlite3")
    assert announce.publish(Move("rollback", "2", "1", bundle_uri="file:///b"), settings) is None
    assert not announce.publish_challenger("3", "file:///c", settings)
