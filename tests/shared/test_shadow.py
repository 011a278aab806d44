"""Shadow scoring: the challenger's score added to a deterministic share of scored events, by the indexer."""

from __future__ import annotations

from pathlib import Path

import fakeredis
import orjson
import pytest

from shared.event import new_id
from shared.model_holder import ModelHolder
from shared.scorer import Scorer
from shared.shadow import ShadowScorer, sampled
from shared.store.sqlite import SQLiteEventStore
from tests.utils.events import make_event
from worker.indexer import Indexer


def test_sampling_is_deterministic_and_near_the_rate() -> None:
    ids = [new_id() for _ in range(20_000)]
    share = sum(sampled(i, 0.1) for i in ids) / len(ids)
    assert 0.09 < share < 0.11
    assert [sampled(i, 0.1) for i in ids[:100]] == [sampled(i, 0.1) for i in ids[:100]]
    assert not any(sampled(i, 0.0) for i in ids[:100]) and all(sampled(i, 1.0) for i in ids[:100])


def test_annotate_scores_the_sampled_ok_events_with_the_challenger(tiny_bundle: Path) -> None:
    challenger = Scorer.load(tiny_bundle)
    docs = [make_event(event_id=new_id()) for _ in range(5)] + [make_event(status="invalid", event_id=new_id())]
    shadow = ShadowScorer(ModelHolder(challenger), rate=1.0)
    assert shadow.annotate(docs) == 5
    for doc in docs[:5]:
        expected = challenger.score(doc["features"])
        assert doc["shadow"] == {"model_version": challenger.model_version, "probability": expected.probability,
                                 "decision": expected.decision}
    assert "shadow" not in docs[5] or docs[5]["shadow"] is None
    assert ShadowScorer(ModelHolder(None), rate=1.0).annotate([make_event(event_id=new_id())]) == 0
    assert ShadowScorer(ModelHolder(challenger), rate=0.0).annotate([make_event(event_id=new_id())]) == 0


def test_the_indexer_stores_the_shadow_on_the_champion_event(tiny_bundle: Path, tmp_path: Path) -> None:
    redis = fakeredis.FakeRedis()
    store = SQLiteEventStore(tmp_path / "events.sqlite3")
    store.setup()
    events = [make_event(event_id=new_id()) for _ in range(10)]
    for event in events:
        redis.xadd("test:events", {"event": orjson.dumps(event)})
    shadow = ShadowScorer(ModelHolder(Scorer.load(tiny_bundle)), rate=1.0)
    indexer = Indexer(redis, store, "test:events", block_ms=10, threads=1, shadow=shadow)
    assert indexer.run_once() == 10
    stored = [store.get_event(e["event_id"]) for e in events]
    assert all(doc is not None and doc["shadow"]["probability"] is not None for doc in stored)
    assert all(doc["score"] == e["score"] for doc, e in zip(stored, events, strict=True))  # the champion's own


class _Broken:
    model_version = "broken"

    def score_batch(self, _rows: object) -> list[object]:
        raise RuntimeError("challenger failure")


def test_a_failing_challenger_never_stops_indexing(tmp_path: Path) -> None:
    shadow = ShadowScorer(ModelHolder(_Broken()), rate=1.0)  # type: ignore[arg-type]
    docs = [make_event(event_id=new_id())]
    assert shadow.annotate(docs) == 0 and shadow.errors == 1 and docs[0].get("shadow") is None


@pytest.mark.parametrize("rate", [0.05, 0.5])
def test_rates_in_between(rate: float) -> None:
    ids = [new_id() for _ in range(10_000)]
    assert abs(sum(sampled(i, rate) for i in ids) / len(ids) - rate) < 0.02
