"""The event publisher with fakeredis: never blocks, spools while Redis is down, forwards in order, counts drops."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import orjson
import pytest
import redis

from shared.event import ScoringEvent
from shared.publisher import EventPublisher
from tests.utils.events import make_event
from tests.utils.waiting import wait_until

STREAM = "test:events"


class SwitchableRedis:
    """fakeredis whose commands fail (as with Redis down) while ``down`` is set, or block while ``hold`` is clear."""

    def __init__(self) -> None:
        self.real = fakeredis.FakeRedis()
        self.down = False
        self.hold = threading.Event()
        self.hold.set()

    def pipeline(self, transaction: bool = True) -> Any:
        outer = self
        pipe = self.real.pipeline(transaction=transaction)

        class Pipe:
            def xadd(self, *args: Any, **kwargs: Any) -> None:
                pipe.xadd(*args, **kwargs)

            def xlen(self, *args: Any) -> None:
                pipe.xlen(*args)

            def execute(self) -> Any:
                outer.hold.wait()
                if outer.down:
                    raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
                return pipe.execute()

        return Pipe()

    def __getattr__(self, name: str) -> Any:  # single commands (XLEN, the loss records' XADD)
        command = getattr(self.real, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.hold.wait()
            if self.down:
                raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
            return command(*args, **kwargs)

        return call


def stream_ids(client: Any) -> list[str]:
    return [orjson.loads(fields[b"event"])["event_id"] for _, fields in client.xrange(STREAM)]


def recorded_losses(client: Any) -> int:
    """Events the loss records of ``{stream}:lost`` account for."""
    return sum(int(fields[b"count"]) for _, fields in client.xrange(STREAM + ":lost"))


@pytest.fixture
def fake() -> SwitchableRedis:
    return SwitchableRedis()


@pytest.fixture
def publisher(fake: SwitchableRedis, tmp_path: Path) -> Iterator[EventPublisher]:
    pub = EventPublisher(fake, STREAM, maxlen=10_000, spool_dir=tmp_path / "spool", retry_interval_s=0.05,
                         batch_size=50)
    yield pub
    fake.down = False
    fake.hold.set()
    pub.close()


def test_events_reach_the_stream_in_order(publisher: EventPublisher, fake: SwitchableRedis) -> None:
    events = [make_event(event_id=f"e{i:03d}") for i in range(120)]
    publisher.publish(ScoringEvent.from_dict(events[0]))
    for event in events[1:]:
        assert publisher.publish(event)
    assert publisher.flush()
    assert stream_ids(fake.real) == [e["event_id"] for e in events]
    _, fields = fake.real.xrange(STREAM, count=1)[0]
    assert list(fields) == [b"event"]
    assert ScoringEvent.from_json(fields[b"event"]).to_dict() == events[0]
    stats = publisher.stats()
    assert stats == {"pending": 0, "spooled": 0, "dropped": 0, "published": 120, "redis_ok": True,
                     "stream_full": False, "last_error": None}


def test_publish_returns_while_redis_hangs(publisher: EventPublisher, fake: SwitchableRedis) -> None:
    fake.hold.clear()  # the background thread's XADD now hangs
    for i in range(300):
        assert publisher.publish(make_event(event_id=f"h{i}"))
    assert publisher.stats()["pending"] > 0
    fake.hold.set()
    assert publisher.flush()
    assert len(stream_ids(fake.real)) == 300


def test_redis_down_spools_then_forwards_in_order(publisher: EventPublisher, fake: SwitchableRedis,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    publisher.publish(make_event(event_id="before"))
    publisher.flush()
    fake.down = True
    for i in range(300):
        publisher.publish(make_event(event_id=f"d{i:03d}"))
    assert publisher.flush()
    stats = publisher.stats()
    assert stats["spooled"] == 300 and not stats["redis_ok"] and "Connection refused" in stats["last_error"]
    assert stats["dropped"] == 0
    assert "spooling" in caplog.text
    fake.down = False
    publisher.publish(make_event(event_id="after"))
    wait_until(lambda: publisher.stats()["spooled"] == 0 and publisher.stats()["pending"] == 0)
    assert stream_ids(fake.real) == ["before", *(f"d{i:03d}" for i in range(300)), "after"]
    assert publisher.stats()["redis_ok"] and publisher.stats()["published"] == 302


def test_full_spool_drops_explicitly(fake: SwitchableRedis, tmp_path: Path,
                                     caplog: pytest.LogCaptureFixture) -> None:
    fake.down = True
    size = len(orjson.dumps(make_event())) + 1
    pub = EventPublisher(fake, STREAM, spool_dir=tmp_path, spool_max_bytes=size * 10, retry_interval_s=60)
    try:
        for _ in range(25):
            pub.publish(make_event())
        pub.flush()
        stats = pub.stats()
        assert stats["spooled"] == 10 and stats["dropped"] == 15
        assert "DROPPED" in caplog.text and "spool is full" in caplog.text
    finally:
        pub.close(timeout=1)


def test_full_memory_queue_drops_explicitly(fake: SwitchableRedis, tmp_path: Path) -> None:
    fake.hold.clear()
    pub = EventPublisher(fake, STREAM, spool_dir=tmp_path, queue_max=20, batch_size=5)
    try:
        results = [pub.publish(make_event()) for _ in range(100)]
        assert not all(results)
        assert pub.stats()["dropped"] == results.count(False) > 0
    finally:
        fake.hold.set()
        pub.close()
    assert len(fake.real.xrange(STREAM)) == results.count(True)


def test_spooled_events_survive_a_restart(fake: SwitchableRedis, tmp_path: Path) -> None:
    fake.down = True
    first = EventPublisher(fake, STREAM, spool_dir=tmp_path, retry_interval_s=60)
    for i in range(40):
        first.publish(make_event(event_id=f"r{i:02d}"))
    first.close()
    assert first.stats()["spooled"] == 40 and first.stats()["dropped"] == 0
    fake.down = False
    second = EventPublisher(fake, STREAM, spool_dir=tmp_path, retry_interval_s=0.05)
    try:
        wait_until(lambda: second.stats()["spooled"] == 0)
        assert stream_ids(fake.real) == [f"r{i:02d}" for i in range(40)]
    finally:
        second.close()


def test_close_sends_what_is_queued(fake: SwitchableRedis, tmp_path: Path) -> None:
    pub = EventPublisher(fake, STREAM, spool_dir=tmp_path, autostart=False)
    for i in range(10):
        pub.publish(make_event(event_id=f"c{i}"))
    pub.start()
    pub.close()
    assert len(stream_ids(fake.real)) == 10
    assert not pub.publish(make_event())
    assert pub.stats()["dropped"] == 1


def test_unserialisable_event_is_counted(publisher: EventPublisher) -> None:
    assert not publisher.publish({"event_id": "x", "bad": object()})
    assert publisher.stats()["dropped"] == 1


def test_a_full_stream_sends_new_events_to_the_spool_then_forwards_them(
        fake: SwitchableRedis, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="shared.publisher")
    pub = EventPublisher(fake, STREAM, maxlen=20, spool_dir=tmp_path, batch_size=10, retry_interval_s=0.05)
    ids = [f"f{i:03d}" for i in range(100)]
    seen: list[str] = []

    def indexer_stores_and_trims() -> bool:
        entries = fake.real.xrange(STREAM)
        seen.extend(orjson.loads(fields[b"event"])["event_id"] for _, fields in entries)
        if entries:
            fake.real.xdel(STREAM, *(entry_id for entry_id, _ in entries))
        return len(seen) >= len(ids)

    try:
        for event_id in ids:
            pub.publish(make_event(event_id=event_id))
        assert pub.flush()
        length, stats = fake.real.xlen(STREAM), pub.stats()
        assert 20 <= length < 30  # the publisher never trims; it stops adding at the cap (passed by < one batch)
        assert stats["stream_full"] and stats["spooled"] == 100 - length and stats["dropped"] == 0
        assert "new events wait in the spool" in caplog.text
        wait_until(indexer_stores_and_trims)
        wait_until(lambda: not pub.stats()["stream_full"])  # looked again, though it had nothing left to send
    finally:
        pub.close()
    assert seen == ids  # all of them, in order, once
    assert pub.stats()["dropped"] == 0 and pub.stats()["spooled"] == 0


def test_the_full_state_ends_when_the_stream_drains_even_with_nothing_to_send(fake: SwitchableRedis,
                                                                             tmp_path: Path) -> None:
    pub = EventPublisher(fake, STREAM, maxlen=10, spool_dir=tmp_path, batch_size=10, retry_interval_s=0.05)
    try:
        for i in range(10):
            pub.publish(make_event(event_id=f"s{i}"))
        assert pub.flush()
        wait_until(lambda: pub.stats()["stream_full"] and fake.real.xlen(STREAM) == 10)
        assert pub.stats()["spooled"] == 0
        fake.real.xtrim(STREAM, maxlen=0, approximate=False)  # stored and trimmed by the indexer
        wait_until(lambda: not pub.stats()["stream_full"])
    finally:
        pub.close()


def test_a_full_stream_and_a_full_spool_count_log_and_record_every_drop(
        fake: SwitchableRedis, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="shared.publisher")
    size = len(orjson.dumps(make_event())) + 1
    pub = EventPublisher(fake, STREAM, maxlen=10, spool_dir=tmp_path, spool_max_bytes=size * 15, batch_size=5,
                         retry_interval_s=60)
    for _ in range(100):
        pub.publish(make_event())
    assert pub.flush()
    pub.close()
    stats, length = pub.stats(), fake.real.xlen(STREAM)
    assert stats["spooled"] == 15 and stats["dropped"] == 100 - length - 15 > 0
    logged = [r for r in caplog.records if getattr(r, "event", None) == "events_dropped"]
    assert sum(r.dropped for r in logged) == stats["dropped"]  # the rate limit holds lines back, never counts
    assert all("the stream is at its cap and the spool is full" in r.getMessage() for r in logged)
    assert recorded_losses(fake.real) == stats["dropped"]


def test_drops_while_redis_is_down_are_recorded_once_it_is_back(fake: SwitchableRedis, tmp_path: Path) -> None:
    fake.down = True
    pub = EventPublisher(fake, STREAM, spool_dir=None, retry_interval_s=0.05)
    try:
        for _ in range(7):
            pub.publish(make_event())
        assert pub.flush()
        assert pub.stats()["dropped"] == 7 and recorded_losses(fake.real) == 0
        fake.down = False
        wait_until(lambda: recorded_losses(fake.real) == 7)
    finally:
        pub.close()
    assert recorded_losses(fake.real) == 7


def test_client_ids_in_free_text_reach_neither_the_stream_nor_the_spool(fake: SwitchableRedis,
                                                                         tmp_path: Path) -> None:
    from shared.pseudonym import pseudonymise

    pub = EventPublisher(fake, STREAM, spool_dir=tmp_path, retry_interval_s=60, pseudonymisation_key="pub-key")
    fake.down = True  # first to the spool
    malformed = ScoringEvent(path="sync", status="invalid", raw_input='{"SK_ID_CURR": 902211,,')
    failed = make_event(status="error", error_message="KeyError: {'SK_ID_CURR': 902211}")
    assert pub.publish(malformed) and pub.publish(failed)
    assert pub.flush()
    spooled = b"".join(path.read_bytes() for path in tmp_path.rglob("*.jsonl"))
    assert spooled.count(b"\n") == 2 and b"902211" not in spooled
    fake.down = False
    pub.close()
    stored = [orjson.loads(fields[b"event"]) for _, fields in fake.real.xrange(STREAM)]
    ref = pseudonymise(902211, "pub-key")
    assert len(stored) == 2 and b"902211" not in orjson.dumps(stored)
    assert stored[0]["client_ref"] == ref and ref in stored[0]["raw_input"]  # found for erasure by its ref
    assert ref in stored[1]["error_message"]
    assert malformed.raw_input == '{"SK_ID_CURR": 902211,,'  # the caller's object is left as it was
