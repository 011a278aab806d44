"""Events to the Redis Stream from the event loop itself: hand-encoded ``XADD``s on one non-blocking connection.

The background thread of :class:`shared.publisher.EventPublisher` is costly for
an asyncio server: each of its rounds takes the GIL from the event loop (a
futex wake-up and a context switch each way) and packs every command in
redis-py's Python code. When the process publishes from an event loop (the
gateway), :meth:`EventPublisher.attach_loop` gives that loop a
:class:`LoopSender`, and the events published on the loop take this path as
long as Redis answers and the thread has nothing of its own to send (no spooled
event, no batch in hand, the stream under its cap):

* :meth:`LoopSender.add` appends the event's JSON to a list; ``linger_s`` later
  (at once when ``batch_size`` events wait) one buffer of ``XADD stream *
  event <json>`` commands, plus an ``XLEN`` when the stream has a cap, is
  written to the connection: one system call for the batch, no thread;
* the replies are counted as they arrive: an event is published once Redis
  has answered its ``XADD``;
* anything wrong (the connection lost or refused, an error reply, no answer
  within the timeout, the stream at its cap) hands every event not yet
  acknowledged back to the publisher's queue, in order, and the thread sends
  or spools it as before; the loop path stays off until Redis answers the
  thread again with nothing spooled, then takes over the thread's queue (those
  events first, in order: :meth:`EventPublisher._hand_over`), even while events
  keep arriving. Delivery stays at least once: an
  ``XADD`` whose reply was lost is sent again, and the indexer's ``_id``
  absorbs the copy.

The commands are those redis-py sends for the thread (same stream, field
``event``, no trimming), so the stream's entries are the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from typing import Any

log = logging.getLogger(__name__)

_DOLLAR, _PLUS, _MINUS, _COLON = 36, 43, 45, 58  # RESP reply types


def resp(*args: bytes) -> bytes:
    """One command in RESP (an array of bulk strings)."""
    return b"".join([b"*%d\r\n" % len(args), *(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)])


def loop_address(redis: Any) -> dict[str, Any] | None:
    """Host, port, database and credentials of a plain TCP redis-py client; None for anything else.

    A Sentinel-managed, TLS, Unix-socket or fake client keeps the publisher's thread.
    """
    try:
        from redis.connection import Connection, ConnectionPool
    except ImportError:  # pragma: no cover - redis is a dependency
        return None
    pool = getattr(redis, "connection_pool", None)
    if type(pool) is not ConnectionPool or pool.connection_class is not Connection:
        return None
    kwargs = pool.connection_kwargs
    return {"host": kwargs.get("host", "localhost"), "port": int(kwargs.get("port", 6379)),
            "db": int(kwargs.get("db") or 0), "username": kwargs.get("username"),
            "password": kwargs.get("password"), "timeout_s": float(kwargs.get("socket_timeout") or 5.0)}


class _Sent:
    """One buffer written: its events, the replies it expects and how many have been read."""

    __slots__ = ("events", "failed", "handshake", "read", "sent_at", "xlen")

    def __init__(self, events: list[bytes], xlen: bool, handshake: int = 0) -> None:
        self.events = events
        self.xlen = xlen
        self.handshake = handshake  # leading replies of AUTH / SELECT
        self.read = 0
        self.failed: list[bytes] = []
        self.sent_at = time.monotonic()

    @property
    def replies(self) -> int:
        return self.handshake + len(self.events) + self.xlen


class _Connection(asyncio.Protocol):
    """One TCP connection of the sender (a lost one is never reused)."""

    def __init__(self, sender: LoopSender) -> None:
        self.sender = sender
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.sender._conn is self:
            self.sender._received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.sender._conn is self:
            self.sender._fail(f"connection lost ({exc or 'closed by Redis'})")


class LoopSender:
    """The event loop's own path to the stream (see the module docstring); created and used on the loop's thread.

    Args:
        publisher: the :class:`shared.publisher.EventPublisher` it serves (its queue takes events back).
        loop: the running event loop.
        host: Redis host.
        port: Redis port.
        stream: the stream's name.
        db: database number (``SELECT`` when not 0).
        username: ``AUTH`` user name, if any.
        password: ``AUTH`` password, if any.
        maxlen: the stream's cap (an ``XLEN`` follows every batch when set); 0: no cap.
        batch_size: events that make a batch go at once.
        linger_s: how long the first event of a batch waits for others.
        timeout_s: no reply for this long means Redis is gone.
        retry_interval_s: pause before connecting again after a failure.
        max_pending: events written and not yet acknowledged beyond which new ones go to the thread.
    """

    def __init__(self, publisher: Any, loop: asyncio.AbstractEventLoop, host: str, port: int, stream: str, *,
                 db: int = 0, username: str | None = None, password: str | None = None, maxlen: int = 0,
                 batch_size: int = 500, linger_s: float = 0.002, timeout_s: float = 2.0,
                 retry_interval_s: float = 1.0, max_pending: int = 20_000) -> None:
        self.publisher = publisher
        self.loop = loop
        self.thread_id = threading.get_ident()
        self.address = (host, port)
        self.maxlen = maxlen
        self.batch_size = batch_size
        self.linger_s = linger_s
        self.timeout_s = timeout_s
        self.retry_interval_s = retry_interval_s
        self.max_pending = max_pending
        self.active = False  # publish() on the loop's thread hands events to add() only while this is set
        self._handshake: list[bytes] = []
        if username or password:
            self._handshake.append(resp(b"AUTH", *([username.encode()] if username else []),
                                        (password or "").encode()))
        if db:
            self._handshake.append(resp(b"SELECT", str(db).encode()))
        self._prefix = b"*5\r\n$4\r\nXADD\r\n" + b"$%d\r\n%s\r\n" % (len(stream.encode()), stream.encode()) \
            + b"$1\r\n*\r\n$5\r\nevent\r\n"
        self._xlen = resp(b"XLEN", stream.encode())
        self._batch: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None
        self._inflight: deque[_Sent] = deque()
        self.inflight_events = 0
        self._buffer = bytearray()
        self._conn: _Connection | None = None
        self._connecting = False
        self._watchdog: asyncio.TimerHandle | None = None
        self._next_connect = 0.0
        self._next_resume_request = 0.0
        self._closing = False
        self._closed = threading.Event()
        self._error = ""  # the last error reply to an XADD
        self._length = 0  # the stream's length in the last XLEN reply

    @property
    def pending(self) -> int:
        """Events held here: waiting for the next write, or written and not yet acknowledged."""
        return len(self._batch) + self.inflight_events

    # --- the loop's side -----------------------------------------------------------------
    def add(self, data: bytes) -> None:
        """Send one serialised event with the next batch (on the loop's thread, while :attr:`active`)."""
        batch = self._batch
        batch.append(data)
        if len(batch) == 1:
            self._timer = self.loop.call_later(self.linger_s, self._flush)
        elif len(batch) >= self.batch_size:
            self._flush()

    def _take_batch(self) -> list[bytes]:
        """The events waiting for the next write (the linger timer cancelled)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._batch = self._batch, []
        return batch

    def _flush(self) -> None:
        batch = self._take_batch()
        if not batch:
            return
        conn = self._conn
        if conn is None or conn.transport is None:
            self.publisher._take_back(batch)
            return
        prefix = self._prefix
        parts: list[bytes] = []
        for data in batch:
            parts += (prefix, b"$%d\r\n" % len(data), data, b"\r\n")
        if self.maxlen:
            parts.append(self._xlen)
        self._inflight.append(_Sent(batch, bool(self.maxlen)))
        self.inflight_events += len(batch)
        conn.transport.write(b"".join(parts))
        if self._watchdog is None:
            self._watchdog = self.loop.call_later(self.timeout_s, self._check_answers)
        if self.inflight_events >= self.max_pending:
            self.active = False  # Redis is slow: the thread takes the next events until it catches up

    def _received(self, data: bytes) -> None:
        """Count the replies in ``data`` (RESP: bulk strings for XADD, integers for XLEN, +OK, -errors)."""
        buffer = self._buffer
        buffer += data
        inflight = self._inflight
        pos, end = 0, len(buffer)
        while pos < end:
            eol = buffer.find(b"\r\n", pos)
            if eol < 0:
                break
            kind = buffer[pos]
            following = eol + 2
            if kind == _DOLLAR:
                size = int(buffer[pos + 1:eol])
                if size >= 0:
                    following += size + 2
                    if following > end:
                        break
            elif kind not in (_PLUS, _MINUS, _COLON):
                self._fail(f"unexpected reply from Redis: {bytes(buffer[pos:pos + 40])!r}")
                return
            if not inflight:
                self._fail("a reply nothing was waiting for")
                return
            sent = inflight[0]
            index = sent.read - sent.handshake
            sent.read += 1
            if kind == _MINUS:
                message = bytes(buffer[pos + 1:eol]).decode(errors="replace")
                if 0 <= index < len(sent.events):
                    sent.failed.append(sent.events[index])
                    self._error = message
                elif index < 0:
                    self._fail(f"Redis refused the connection's set-up: {message}")
                    return
            elif kind == _COLON and index == len(sent.events) and sent.xlen:
                self._length = int(buffer[pos + 1:eol])
            pos = following
            if sent.read == sent.replies:
                inflight.popleft()
                self._done(sent)
        del buffer[:pos]

    def _done(self, sent: _Sent) -> None:
        """Every reply of one buffer is in: its events are published, or handed back when refused."""
        self.inflight_events -= len(sent.events)
        if sent.events:
            self.publisher._acknowledged(len(sent.events) - len(sent.failed))
        if sent.failed:
            self.active = False
            self.publisher._take_back(sent.failed, f"Redis refused {len(sent.failed)} XADD(s): {self._error}")
        elif sent.xlen:
            self.publisher._set_full(self._length)
            if self._length >= self.maxlen:
                self.active = False  # the thread spools the next events until the stream has room
        if not self._inflight:
            if self._watchdog is not None:
                self._watchdog.cancel()
                self._watchdog = None
            if self._closing and not self._batch:
                self._finish()
            elif not self.active and not self._closing:
                self._resume()

    def _check_answers(self) -> None:
        self._watchdog = None
        if not self._inflight:
            return
        waited = time.monotonic() - self._inflight[0].sent_at
        if waited >= self.timeout_s:
            self._fail(f"no answer from Redis within {self.timeout_s:g} s")
        else:
            self._watchdog = self.loop.call_later(self.timeout_s - waited, self._check_answers)

    def _fail(self, reason: str) -> None:
        """Drop the connection; every event not acknowledged goes back to the publisher's queue, in order."""
        self.active = False
        conn, self._conn = self._conn, None
        if conn is not None and conn.transport is not None:
            with contextlib.suppress(Exception):  # a loop already closed: the socket goes with it
                conn.transport.abort()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        events: list[bytes] = []
        acknowledged = 0
        for sent in self._inflight:
            answered = min(max(0, sent.read - sent.handshake), len(sent.events))
            acknowledged += answered - len(sent.failed)
            events += sent.failed
            events += sent.events[answered:]
        self._inflight.clear()
        self.inflight_events = 0
        self._buffer.clear()
        events += self._batch
        self._batch = []
        if acknowledged:
            self.publisher._acknowledged(acknowledged)
        self._next_connect = time.monotonic() + self.retry_interval_s
        if events or not self._closing:
            log.log(logging.WARNING if events else logging.INFO,
                    "event loop's Redis connection for the events stream: %s; %d events go through the "
                    "publisher thread", reason, len(events))
        self.publisher._take_back(events)
        if self._closing:
            self._finish()

    # --- (re)connecting ----------------------------------------------------------------------
    def _resume(self) -> None:
        """Take events again (the thread's queue first) once Redis answers and the thread holds no batch of its own;
        connect first if needed."""
        if self._closing or self.active:
            return
        if self._conn is None:
            if not self._connecting and time.monotonic() >= self._next_connect:
                self._connecting = True
                self.loop.create_task(self._connect())
            return
        if self.inflight_events < self.max_pending // 2:
            queued = self.publisher._hand_over(self.max_pending // 2)
            if queued is None:  # the thread still has events of its own to send, or Redis is not back
                return
            self.active = True
            for data in queued:  # the thread's queue goes first, in its order
                self.add(data)

    async def _connect(self) -> None:
        conn = _Connection(self)
        try:
            await asyncio.wait_for(self.loop.create_connection(lambda: conn, *self.address), self.timeout_s)
        except (TimeoutError, OSError) as exc:
            self._next_connect = time.monotonic() + self.retry_interval_s
            log.debug("event loop's Redis connection failed: %s", exc)
            return
        finally:
            self._connecting = False
        if self._closing:
            if conn.transport is not None:
                conn.transport.close()
            return
        self._conn = conn
        if self._handshake and conn.transport is not None:
            self._inflight.append(_Sent([], False, handshake=len(self._handshake)))
            conn.transport.write(b"".join(self._handshake))
            self._watchdog = self._watchdog or self.loop.call_later(self.timeout_s, self._check_answers)
        self._resume()

    def resume_soon(self) -> None:
        """From another thread (the publisher's, once it is idle with Redis answering): try to take events again."""
        now = time.monotonic()
        if self.active or self._closing or now < self._next_resume_request:
            return
        self._next_resume_request = now + 0.1
        try:
            self.loop.call_soon_threadsafe(self._resume)
        except RuntimeError:  # the loop is closed
            pass

    # --- flush and close (any thread) -----------------------------------------------------------
    def drain(self, timeout: float) -> bool:
        """Write what waits and wait until Redis has acknowledged all of it (or handed it back); True if so."""
        if threading.get_ident() == self.thread_id:  # on the loop itself: nothing can be awaited here
            self._hand_back_batch()
            return True
        deadline = time.monotonic() + timeout
        while self.pending:
            try:
                self.loop.call_soon_threadsafe(self._flush)
            except RuntimeError:  # the loop is closed: nothing will answer
                self._abandon()
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.002)
        return True

    def close(self, timeout: float) -> None:
        """Stop taking events, send what waits and wait for its replies (at most ``timeout`` s); whatever is
        left goes back to the publisher's queue."""
        if threading.get_ident() == self.thread_id:
            self._abandon()
            return
        try:
            self.loop.call_soon_threadsafe(self._shutdown)
        except RuntimeError:  # the loop is closed: its callbacks will never run
            self._abandon()
            return
        if not self._closed.wait(timeout):
            log.warning("event loop's Redis connection did not finish within %.1f s", timeout)
            try:
                self.loop.call_soon_threadsafe(self._abandon)
            except RuntimeError:
                self._abandon()
            self._closed.wait(1.0)

    def _shutdown(self) -> None:
        self._closing = True
        self.active = False
        self._flush()
        if not self._inflight:
            self._finish()

    def _hand_back_batch(self) -> None:
        batch = self._take_batch()
        if batch:
            self.publisher._take_back(batch)

    def _abandon(self) -> None:
        """Hand everything back (written events too: sent again, at least once) and close."""
        self._closing = True
        self._fail("closed")

    def _finish(self) -> None:
        self._closing = True
        self.active = False
        conn, self._conn = self._conn, None
        if conn is not None and conn.transport is not None:
            with contextlib.suppress(Exception):
                conn.transport.close()
        self._closed.set()
