"""Events published on an event loop go to the real Redis from that loop, and survive an outage on the way.

The publisher's own loop connection (``EventPublisher.attach_loop``) is cut by a TCP proxy
(tests/utils/tcp_proxy.py) while events are published: whatever Redis did not acknowledge
goes back to the publisher's thread, which spools it and forwards it once Redis is back,
and then the loop sends again.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson
import pytest
import redis as redis_lib

from shared.publisher import EventPublisher
from tests.utils.events import many_events
from tests.utils.servers import require_redis
from tests.utils.tcp_proxy import TcpProxy, redis_through
from tests.utils.waiting import wait_until

pytestmark = pytest.mark.integration


class LoopThread:
    """An event loop running in a thread, as a server's."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, fn: Callable[[], Any]) -> Any:
        async def run() -> Any:
            result = fn()
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(60)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.stop()


def publish_on(loop_thread: LoopThread, publisher: EventPublisher, events: list[dict[str, Any]]) -> None:
    """Publish ``events`` from the loop, yielding to it now and then as a server does between requests."""

    async def publish() -> None:
        for i, event in enumerate(events):
            assert publisher.publish(event)
            if i % 50 == 49:
                await asyncio.sleep(0.001)

    loop_thread.call(publish)


def stream_ids(client: redis_lib.Redis, stream: str) -> list[str]:
    return [orjson.loads(fields[b"event"])["event_id"] for _, fields in client.xrange(stream)]


def test_events_published_on_the_loop_reach_the_stream_in_order_once(redis_client: redis_lib.Redis, stream: str,
                                                                   loop_thread: LoopThread, tmp_path: Path) -> None:
    events = many_events(3_000)
    publisher = EventPublisher(redis_lib.Redis.from_url(require_redis(), socket_timeout=2), stream,
                               spool_dir=tmp_path / "spool")
    try:
        assert loop_thread.call(publisher.attach_loop)
        wait_until(lambda: publisher.loop_active, timeout=10)
        publish_on(loop_thread, publisher, events)
        assert publisher.flush(30)
        assert publisher.loop_active  # nothing went wrong: the loop sent them all
    finally:
        publisher.close()
    assert stream_ids(redis_client, stream) == [e["event_id"] for e in events]
    stats = publisher.stats()
    assert stats["published"] == len(events) and stats["dropped"] == 0 and stats["pending"] == 0


def test_a_cut_connection_spools_then_forwards_then_the_loop_sends_again(redis_client: redis_lib.Redis,
                                                                         stream: str, loop_thread: LoopThread,
                                                                         tmp_path: Path) -> None:
    n = 3_000
    events = many_events(n)
    redis_url = urlparse(require_redis())
    with TcpProxy(redis_url.port or 6379, redis_url.hostname or "127.0.0.1") as proxy:
        through_proxy = redis_through(proxy, require_redis())
        publisher = EventPublisher(through_proxy, stream, spool_dir=tmp_path / "spool", retry_interval_s=0.2)
        try:
            assert loop_thread.call(publisher.attach_loop)
            wait_until(lambda: publisher.loop_active, timeout=10)
            publish_on(loop_thread, publisher, events[: n // 3])
            assert publisher.flush(30)
            proxy.stop()  # Redis "goes down" for both of the publisher's connections
            publish_on(loop_thread, publisher, events[n // 3: 2 * n // 3])
            wait_until(lambda: publisher.stats()["spooled"] > 0, timeout=30)
            assert publisher.flush(30)
            down = publisher.stats()
            assert not down["redis_ok"] and down["dropped"] == 0 and not publisher.loop_active
            proxy.start()  # back
            wait_until(lambda: publisher.stats()["spooled"] == 0 and publisher.loop_active, timeout=60)
            publish_on(loop_thread, publisher, events[2 * n // 3:])
            assert publisher.flush(30)
        finally:
            publisher.close()
    stats = publisher.stats()
    assert stats["dropped"] == 0 and stats["published"] >= n
    # in order (an XADD whose reply was lost is sent again, so only first occurrences count)
    assert list(dict.fromkeys(stream_ids(redis_client, stream))) == [e["event_id"] for e in events]


def test_under_steady_load_the_loop_takes_the_stream_back_after_a_failure(redis_client: redis_lib.Redis,
                                                                          stream: str, loop_thread: LoopThread,
                                                                          tmp_path: Path) -> None:
    """A server is never idle under steady load: the loop must not wait for a pause in the traffic to send again."""
    events = many_events(6_000)
    publisher = EventPublisher(redis_lib.Redis.from_url(require_redis(), socket_timeout=2), stream,
                               spool_dir=tmp_path / "spool", retry_interval_s=0.2)
    seen: dict[str, Any] = {"back_at": None}

    async def publish_steadily() -> None:
        # a busy gateway worker: each request holds the loop (its work), which runs its callbacks between them
        sender = publisher._sender
        assert sender is not None
        for i, event in enumerate(events):
            time.sleep(0.0003)  # the request's work, then its event, then the next request
            assert publisher.publish(event)
            if i == 1_000:
                sender._fail("cut by the test")  # the queue goes to the thread, which sends it
                assert not publisher.loop_active
            elif i > 1_000 and seen["back_at"] is None and publisher.loop_active:
                seen["back_at"] = i
            if i % 16 == 15:
                await asyncio.sleep(0)

    try:
        assert loop_thread.call(publisher.attach_loop)
        wait_until(lambda: publisher.loop_active, timeout=10)
        loop_thread.call(publish_steadily)
        assert publisher.flush(30)
    finally:
        publisher.close()
    # back well before the end of the traffic (a reconnection after 0.2 s, the thread asking every 0.1 s)
    assert seen["back_at"] is not None and seen["back_at"] < 3_000, seen
    stats = publisher.stats()
    assert stats["dropped"] == 0 and stats["published"] >= len(events)
    assert list(dict.fromkeys(stream_ids(redis_client, stream))) == [e["event_id"] for e in events]
