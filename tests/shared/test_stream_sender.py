"""The event loop's sender of the events stream, without a server: its commands and how it reads the replies."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import fakeredis
import pytest
import redis
from redis.connection import Connection

from shared.stream_sender import LoopSender, _Connection, loop_address, resp

STREAM = "test:events"


class FakePublisher:
    """What the sender asks of :class:`shared.publisher.EventPublisher`."""

    def __init__(self) -> None:
        self.taken_back: list[bytes] = []
        self.acknowledged = 0
        self.lengths: list[int] = []
        self.quiet = True
        self.queued: list[bytes] = []  # the thread's queue, handed over to the loop when it resumes

    def _take_back(self, events: list[bytes], reason: str | None = None) -> None:
        self.taken_back += events
        self.quiet = self.quiet and not events  # the thread has them to send now

    def _acknowledged(self, count: int) -> None:
        self.acknowledged += count

    def _set_full(self, length: int) -> None:
        self.lengths.append(length)

    def _hand_over(self, limit: int) -> list[bytes] | None:
        if not self.quiet:
            return None
        queued, self.queued = self.queued, []
        return queued


class FakeTransport:
    def __init__(self) -> None:
        self.written = bytearray()
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written += data

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.aborted = True


def run(test: Callable[[LoopSender, FakePublisher, FakeTransport], Any], **options: Any) -> None:
    """Run ``test`` on an event loop, with a sender connected to a fake transport."""

    async def main() -> None:
        publisher = FakePublisher()
        sender = LoopSender(publisher, asyncio.get_running_loop(), "127.0.0.1", 6379, STREAM, linger_s=0,
                            **options)
        conn = _Connection(sender)
        transport = FakeTransport()
        conn.connection_made(transport)  # type: ignore[arg-type]
        sender._conn = conn
        sender.active = True
        result = test(sender, publisher, transport)
        if asyncio.iscoroutine(result):
            await result

    asyncio.run(main())


def xadd_reply(n: int) -> bytes:
    return b"".join(b"$15\r\n1700000000000-%d\r\n" % (i % 10) for i in range(n))


def test_the_commands_are_those_redis_py_sends() -> None:
    events = [b'{"event_id":"a"}', b'{"event_id":"b","x":"\xc3\xa9"}']

    def check(sender: LoopSender, publisher: FakePublisher, transport: FakeTransport) -> None:
        for event in events:
            sender.add(event)
        sender._flush()
        packer = Connection()
        expected = b"".join(b"".join(packer.pack_command("XADD", STREAM, "*", "event", e)) for e in events)
        expected += b"".join(packer.pack_command("XLEN", STREAM))
        assert bytes(transport.written) == expected

    run(check, maxlen=100)


def test_replies_are_counted_however_they_are_cut() -> None:
    replies = xadd_reply(5) + b":42\r\n"

    def check(sender: LoopSender, publisher: FakePublisher, transport: FakeTransport) -> None:
        for cut in range(1, len(replies)):
            for i in range(5):
                sender.add(b"e%d" % i)
            sender._flush()
            sender._received(replies[:cut])
            sender._received(replies[cut:])
        assert publisher.acknowledged == 5 * (len(replies) - 1)
        assert sender.pending == 0 and publisher.taken_back == []
        assert publisher.lengths == [42] * (len(replies) - 1)

    run(check, maxlen=1000)


def test_a_refused_xadd_goes_back_to_the_publisher() -> None:
    def check(sender: LoopSender, publisher: FakePublisher, transport: FakeTransport) -> None:
        for event in (b"a", b"b", b"c"):
            sender.add(event)
        sender._flush()
        sender._received(xadd_reply(1) + b"-OOM command not allowed when used memory > 'maxmemory'\r\n"
                         + xadd_reply(1))
        assert publisher.acknowledged == 2 and publisher.taken_back == [b"b"]
        assert not sender.active  # the thread sends the next events until the loop takes over again

    run(check)


def test_resuming_takes_over_the_threads_queue_first_in_order() -> None:
    def check(sender: LoopSender, publisher: FakePublisher, transport: FakeTransport) -> None:
        sender.active = False
        publisher.queued = [b"q1", b"q2"]  # published while the thread had the stream
        publisher.quiet = False  # the thread still holds a batch of its own: no take-over yet
        sender._resume()
        assert not sender.active and publisher.queued == [b"q1", b"q2"]
        publisher.quiet = True
        sender._resume()
        assert sender.active and publisher.queued == []
        sender.add(b"own")
        sender._flush()
        packer = Connection()
        assert bytes(transport.written) == b"".join(
            b"".join(packer.pack_command("XADD", STREAM, "*", "event", e)) for e in (b"q1", b"q2", b"own"))

    run(check)


def test_a_lost_connection_hands_back_what_was_not_acknowledged_in_order() -> None:
    def check(sender: LoopSender, publisher: FakePublisher, transport: FakeTransport) -> None:
        for event in (b"a", b"b", b"c"):
            sender.add(event)
        sender._flush()
        sender.add(b"d")  # not written yet
        sender._received(xadd_reply(1))
        assert sender._conn is not None
        sender._conn.connection_lost(ConnectionResetError("reset by peer"))
        assert publisher.acknowledged == 1
        assert publisher.taken_back == [b"b", b"c", b"d"]
        assert not sender.active and sender.pending == 0 and transport.aborted

    run(check)


def test_no_answer_within_the_timeout_hands_the_events_back() -> None:
    async def check(sender: LoopSender, publisher: FakePublisher, transport: FakeTransport) -> None:
        sender.add(b"a")
        sender._flush()
        publisher.quiet = False  # Redis is gone: no reconnection attempt in this test
        for _ in range(200):
            if publisher.taken_back:
                break
            await asyncio.sleep(0.01)
        assert publisher.taken_back == [b"a"] and not sender.active and transport.aborted

    run(check, timeout_s=0.05)


def test_a_stream_at_its_cap_stops_the_loop_path() -> None:
    def check(sender: LoopSender, publisher: FakePublisher, transport: FakeTransport) -> None:
        sender.add(b"a")
        sender._flush()
        publisher.quiet = False
        sender._received(xadd_reply(1) + b":10\r\n")
        assert publisher.acknowledged == 1 and publisher.lengths == [10] and not sender.active

    run(check, maxlen=10)


def test_the_handshake_authenticates_and_selects_the_database() -> None:
    sender = LoopSender(FakePublisher(), asyncio.new_event_loop(), "h", 1, STREAM, db=3, username="u",
                        password="p")
    assert sender._handshake == [resp(b"AUTH", b"u", b"p"), resp(b"SELECT", b"3")]
    sender.loop.close()


def test_only_plain_tcp_clients_get_a_loop_connection() -> None:
    client = redis.Redis.from_url("redis://user:pw@10.0.0.1:6390/4", socket_timeout=1.5)
    assert loop_address(client) == {"host": "10.0.0.1", "port": 6390, "db": 4, "username": "user",
                                    "password": "pw", "timeout_s": 1.5}
    assert loop_address(fakeredis.FakeRedis()) is None
    assert loop_address(redis.Redis(unix_socket_path="/tmp/redis.sock")) is None


@pytest.mark.parametrize("reply", [b"*1\r\n", b"?\r\n"])
def test_an_unexpected_reply_drops_the_connection(reply: bytes) -> None:
    def check(sender: LoopSender, publisher: FakePublisher, transport: FakeTransport) -> None:
        sender.add(b"a")
        sender._flush()
        sender._received(reply)
        assert publisher.taken_back == [b"a"] and transport.aborted

    run(check)


def test_closing_after_the_loop_has_gone_hands_everything_back() -> None:
    publisher = FakePublisher()
    loop = asyncio.new_event_loop()
    sender = LoopSender(publisher, loop, "127.0.0.1", 6379, STREAM)
    sender._batch = [b"a", b"b"]
    loop.close()
    closer = threading.Thread(target=sender.close, args=(1.0,))  # from another thread, as the gateway's shutdown
    closer.start()
    closer.join(5)
    assert publisher.taken_back == [b"a", b"b"] and sender.pending == 0 and not sender.active
