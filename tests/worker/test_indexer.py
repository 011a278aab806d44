"""The indexer with fakeredis and the SQLite store: ack after store, dead letters, retries, replays, claims."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import fakeredis
import orjson
import pytest

from shared.logs import JsonFormatter
from shared.store.base import IndexResult
from shared.store.exceptions import StoreUnavailableError
from shared.store.sqlite import SQLiteEventStore
from tests.utils.events import make_event
from tests.utils.waiting import wait_until
from worker.indexer import Indexer

STREAM = "test:events"


class FlakyStore(SQLiteEventStore):
    """SQLite store that can be 'down', or ask to retry some event ids."""

    down = False
    retry_ids: set[str] = set()

    def index_events(self, events: Sequence[Mapping[str, Any]]) -> IndexResult:
        if self.down:
            raise StoreUnavailableError("Elasticsearch unreachable: connection refused")
        keep = [e for e in events if e.get("event_id") not in self.retry_ids]
        result = super().index_events(keep)
        result.retry = {i: "es_rejected_execution_exception: queue full" for i in self.retry_ids
                        if any(e.get("event_id") == i for e in events)}
        return result


@pytest.fixture
def redis() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FlakyStore]:
    s = FlakyStore(tmp_path / "events.sqlite3")
    s.setup()
    s.retry_ids = set()
    yield s
    s.close()


def publish(redis: fakeredis.FakeRedis, events: list[dict[str, Any]]) -> None:
    for event in events:
        redis.xadd(STREAM, {"event": orjson.dumps(event)})


def pending(redis: fakeredis.FakeRedis) -> int:
    return int(redis.xpending(STREAM, "indexer")["pending"])


def make_indexer(redis: fakeredis.FakeRedis, store: FlakyStore, **kwargs: Any) -> Indexer:
    return Indexer(redis, store, STREAM, consumer=kwargs.pop("consumer", "c1"), batch_size=kwargs.pop("batch_size", 50),
                   block_ms=10, **kwargs)


def test_batches_are_stored_then_acknowledged(redis: fakeredis.FakeRedis, store: FlakyStore) -> None:
    events = [make_event(event_id=f"e{i:03d}") for i in range(120)]
    publish(redis, events)
    indexer = make_indexer(redis, store)
    assert [indexer.run_once() for _ in range(4)] == [50, 50, 20, 0]
    assert store.count_events() == 120 and pending(redis) == 0
    assert store.get_event("e007") == events[7]
    assert indexer.totals["indexed"] == 120 and indexer.backoff_s == 0


def test_events_published_before_the_group_existed_are_indexed(redis: fakeredis.FakeRedis,
                                                                 store: FlakyStore) -> None:
    publish(redis, [make_event() for _ in range(5)])
    make_indexer(redis, store).run_once()
    assert store.count_events() == 5


def test_refused_documents_go_to_the_dead_letter_stream(redis: fakeredis.FakeRedis, store: FlakyStore,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    bad = make_event(event_id="bad")
    bad["features"]["NOT_A_COLUMN"] = 3
    publish(redis, [make_event(event_id="good"), bad])
    redis.xadd(STREAM, {"event": b"{not json"})
    indexer = make_indexer(redis, store)
    assert indexer.run_once() == 3
    assert store.count_events() == 1 and pending(redis) == 0
    dead = redis.xrange(f"{STREAM}:dead")
    assert len(dead) == 2
    reasons = {orjson.loads(f[b"event"]).get("event_id") if f[b"event"].startswith(b"{\"") else "raw":
               f[b"reason"].decode() for _, f in dead}
    assert "NOT_A_COLUMN" in reasons["bad"] and reasons["raw"].startswith("undecodable")
    assert all(f[b"stream_id"] for _, f in dead)
    assert "sent to test:events:dead" in caplog.text


def test_store_down_keeps_entries_pending_then_retries(redis: fakeredis.FakeRedis, store: FlakyStore) -> None:
    publish(redis, [make_event(event_id=f"d{i}") for i in range(30)])
    indexer = make_indexer(redis, store)
    store.down = True
    assert indexer.run_once() == 0
    assert pending(redis) == 30 and indexer.backoff_s > 0
    first_backoff = indexer.backoff_s
    assert indexer.run_once() == 0
    assert indexer.backoff_s > first_backoff
    publish(redis, [make_event(event_id="late")])
    store.down = False
    assert indexer.run_once() == 30  # its own pending entries first
    assert indexer.run_once() == 1
    assert store.count_events() == 31 and pending(redis) == 0 and indexer.backoff_s == 0


def test_documents_to_retry_stay_pending(redis: fakeredis.FakeRedis, store: FlakyStore) -> None:
    publish(redis, [make_event(event_id=f"r{i}") for i in range(10)])
    store.retry_ids = {"r3", "r7"}
    indexer = make_indexer(redis, store)
    assert indexer.run_once() == 8
    assert pending(redis) == 2 and store.count_events() == 8 and indexer.backoff_s > 0
    store.retry_ids = set()
    assert indexer.run_once() == 2
    assert store.count_events() == 10 and pending(redis) == 0


def test_crash_mid_batch_replays_without_duplicates(redis: fakeredis.FakeRedis, store: FlakyStore) -> None:
    publish(redis, [make_event(event_id=f"x{i}") for i in range(20)])
    crashed = make_indexer(redis, store, consumer="crashed")
    crashed.ensure_group()
    redis.xreadgroup("indexer", "crashed", {STREAM: ">"}, count=20)  # read, never acknowledged
    store.index_events([make_event(event_id=f"x{i}") for i in range(5)])  # and half stored before the crash
    # the same consumer restarting reads its own pending entries first
    assert make_indexer(redis, store, consumer="crashed").run_once() == 20
    assert store.count_events() == 20 and pending(redis) == 0


def test_entries_of_a_dead_consumer_are_claimed(redis: fakeredis.FakeRedis, store: FlakyStore) -> None:
    publish(redis, [make_event(event_id=f"y{i}") for i in range(7)])
    make_indexer(redis, store, consumer="gone").ensure_group()
    redis.xreadgroup("indexer", "gone", {STREAM: ">"}, count=7)
    other = make_indexer(redis, store, consumer="other", claim_idle_ms=0)
    assert other.run_once() == 7
    assert store.count_events() == 7 and pending(redis) == 0


def test_trimmed_pending_entries_are_reported(redis: fakeredis.FakeRedis, store: FlakyStore,
                                              caplog: pytest.LogCaptureFixture) -> None:
    publish(redis, [make_event() for _ in range(3)])
    indexer = make_indexer(redis, store)
    indexer.ensure_group()
    redis.xreadgroup("indexer", "c1", {STREAM: ">"}, count=3)
    redis.xtrim(STREAM, maxlen=0)
    assert indexer.run_once() == 3
    assert indexer.totals["trimmed"] == 3 and pending(redis) == 0
    assert "trimmed" in caplog.text


def test_run_forever_logs_ready_and_stops(redis: fakeredis.FakeRedis, store: FlakyStore,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="worker.indexer")
    indexer = make_indexer(redis, store)
    stop = threading.Event()
    thread = threading.Thread(target=indexer.run_forever, args=(stop,))
    thread.start()
    try:
        publish(redis, [make_event() for _ in range(40)])
        wait_until(lambda: store.count_events() == 40)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert "indexer ready: stream=test:events" in caplog.text
    # the fields are passed with extra= (not JSON inside the message): the worker's formatter writes them as keys
    lines = [orjson.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "worker.indexer"]
    batch_lines = [line for line in lines if line["msg"] == "batch"]
    assert batch_lines and sum(line["indexed"] for line in batch_lines) == 40
    assert {"stream", "entries", "dead", "retry", "trimmed", "ms"} <= set(batch_lines[0])


def test_several_consumer_threads_share_the_work(redis: fakeredis.FakeRedis, store: FlakyStore) -> None:
    publish(redis, [make_event(event_id=f"t{i:03d}") for i in range(300)])
    indexer = make_indexer(redis, store, batch_size=20, threads=3)
    stop = threading.Event()
    thread = threading.Thread(target=indexer.run_forever, args=(stop,))
    thread.start()
    try:
        wait_until(lambda: indexer.totals["indexed"] == 300)
    finally:
        stop.set()
        thread.join(10)
    assert store.count_events() == 300 and pending(redis) == 0
    names = {c["name"] for c in redis.xinfo_consumers(STREAM, "indexer")}
    assert names == {b"c1", b"c1-1", b"c1-2"} or names == {"c1", "c1-1", "c1-2"}


def test_group_is_recreated_after_a_redis_restart(redis: fakeredis.FakeRedis, store: FlakyStore) -> None:
    publish(redis, [make_event() for _ in range(3)])
    indexer = make_indexer(redis, store)
    assert indexer.run_once() == 3
    redis.flushall()  # a Redis without persistence restarted: stream and group are gone
    publish(redis, [make_event() for _ in range(2)])
    with pytest.raises(Exception, match="NOGROUP"):
        indexer.run_once()
    assert indexer.run_once() == 2
    assert store.count_events() == 5


def lost_records(redis: fakeredis.FakeRedis) -> list[dict[bytes, bytes]]:
    return [fields for _, fields in redis.xrange(STREAM + ":lost")]


def test_the_stream_keeps_only_what_is_not_stored_yet(redis: fakeredis.FakeRedis, store: FlakyStore) -> None:
    indexer = make_indexer(redis, store, trim_interval_s=0)
    publish(redis, [make_event(event_id=f"k{i:03d}") for i in range(120)])
    while indexer.run_once():
        pass
    assert store.count_events() == 120 and redis.xlen(STREAM) == 0  # stored, acknowledged, trimmed
    store.down = True
    publish(redis, [make_event(event_id=f"p{i:02d}") for i in range(30)])
    assert indexer.run_once() == 0
    publish(redis, [make_event(event_id=f"n{i:02d}") for i in range(10)])  # not even delivered yet
    assert indexer.trim() == 0 and redis.xlen(STREAM) == 40  # pending and undelivered entries are kept
    store.down = False
    while indexer.run_once() or pending(redis):
        pass
    assert store.count_events() == 160 and redis.xlen(STREAM) == 0 and indexer.totals["lost"] == 0


def test_trimming_waits_for_every_consumer_group(redis: fakeredis.FakeRedis, store: FlakyStore) -> None:
    publish(redis, [make_event() for _ in range(20)])
    redis.xgroup_create(STREAM, "audit", id="0")  # another reader of the stream, which has read nothing yet
    indexer = make_indexer(redis, store, trim_interval_s=0)
    assert indexer.run_once() == 20
    assert redis.xlen(STREAM) == 20
    redis.xreadgroup("audit", "a1", {STREAM: ">"}, count=5, noack=True)
    indexer.trim()
    assert redis.xlen(STREAM) == 15


def test_entries_cut_before_the_indexer_read_them_are_counted_logged_and_recorded(
        redis: fakeredis.FakeRedis, store: FlakyStore, caplog: pytest.LogCaptureFixture) -> None:
    """Something else trims the stream (an older publisher's MAXLEN) while the store is down: every loss shows."""
    indexer = make_indexer(redis, store, probe_interval_s=3600)
    store.down = True
    publish(redis, [make_event() for _ in range(10)])
    assert indexer.run_once() == 0  # 10 pending
    publish(redis, [make_event() for _ in range(50)])
    redis.xtrim(STREAM, maxlen=20, approximate=False)  # cuts the 10 pending entries and 30 never delivered
    assert indexer.run_once() == 0  # the probe reads one new entry: the 30 are counted now, store still down
    assert indexer.totals["lost"] == 30
    store.down = False
    while indexer.run_once() or pending(redis):
        pass
    assert store.count_events() == 20 and indexer.totals["trimmed"] == 10
    assert indexer.totals["lost"] == 40 == 60 - store.count_events()  # exactly what is missing
    lines = [r for r in caplog.records if getattr(r, "event", None) == "events_lost"]
    assert sorted(r.lost for r in lines) == [10, 30] and all(r.levelname == "ERROR" for r in lines)
    records = lost_records(redis)
    assert sorted(int(r[b"count"]) for r in records) == [10, 30] and {r[b"source"] for r in records} == {b"indexer"}
    # a second cut later is counted from where the first left the group's read counter
    publish(redis, [make_event() for _ in range(30)])
    redis.xtrim(STREAM, maxlen=5, approximate=False)
    while indexer.run_once():
        pass
    assert indexer.totals["lost"] == 65 == 90 - store.count_events()


def test_a_short_batch_lets_the_next_one_gather(redis: fakeredis.FakeRedis, store: FlakyStore) -> None:
    indexer = make_indexer(redis, store, linger_ms=200)
    assert indexer.pause_after(50) == 0.0  # a full batch: more may be waiting, read at once
    assert indexer.pause_after(0) == 0.0  # an empty read has waited in Redis already
    assert indexer.pause_after(7) == 0.2
    assert make_indexer(redis, store, linger_ms=0).pause_after(7) == 0.0
    store.down = True
    publish(redis, [make_event(event_id="e1")])
    assert indexer.run_once() == 0
    assert indexer.pause_after(0) == indexer.backoff_s > 0  # the store is down: the back-off rules
    assert indexer._sibling(1).linger_s == 0.2
