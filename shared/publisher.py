"""Put scoring events on the Redis Stream without ever making the caller wait.

:meth:`EventPublisher.publish` serialises the event and appends it to an
in-memory queue; a background thread sends the queue to the stream in
pipelined ``XADD`` batches (field ``event`` = the JSON bytes). The publisher
never trims the stream: only the indexer does, and only entries it has
stored (``XTRIM MINID``), so an event the indexer has not read cannot be cut.

While Redis is down, or while the stream holds ``maxlen`` entries or more
(the memory safety valve: the indexer is down or cannot store), the thread
moves events to a bounded on-disk spool (:class:`shared.spool.Spool`) and
forwards them, oldest first, once the stream takes them again; new events
wait behind the spool so the order holds. What cannot be kept (spool full,
in-memory queue full) is counted in ``dropped``, logged, and recorded in the
stream ``{stream}:lost`` (which the monitoring alerts on) once Redis answers:
never lost silently. Delivery is at least once: a batch that failed half-way
may be sent twice, which the indexer's ``_id`` absorbs.

A process that publishes from an asyncio event loop (the gateway) calls
:meth:`EventPublisher.attach_loop` on it: the events published on that loop
then go to the stream from the loop itself (:mod:`shared.stream_sender`), with
no thread hand-off, while Redis answers and nothing is spooled; on any failure
they come back to the queue above, and the thread sends or spools them. Once
Redis answers again the loop takes the queue back over (what is queued first,
in order), even while events keep coming: a server under steady load goes back
to the cheaper path without waiting for a pause in its traffic.

Client ids never reach the stream or the spool in clear: the free text of a
failed attempt (``raw_input``, ``error_message``) goes through
:class:`shared.pseudonym.Pseudonymiser` before it is serialised, whoever built
the event (a scored event has no free text, and costs one comparison).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from shared.event import ScoringEvent
from shared.pseudonym import Pseudonymiser
from shared.settings import EVENTS_STREAM_MAXLEN, SPOOL_DIR, SPOOL_MAX_BYTES
from shared.spool import Spool
from shared.stream_sender import LoopSender, loop_address

log = logging.getLogger(__name__)

_DROP_LOG_EVERY_S = 10.0
LOST_SUFFIX = ":lost"
LOST_RECORDS_MAXLEN = 10_000  # loss records (a few per minute at worst), not events


def record_loss(redis: Any, stream: str, count: int, source: str, reason: str, **fields: str) -> None:
    """Append one record of ``count`` lost events to ``{stream}:lost`` (read by the monitoring's anomaly check).

    Raises:
        redis.RedisError: when Redis does not answer (the caller keeps the count and tries again).
    """
    record = {"count": str(count), "source": source, "reason": reason, **fields}
    redis.xadd(stream + LOST_SUFFIX, record, maxlen=LOST_RECORDS_MAXLEN, approximate=True)


class EventPublisher:
    """Non-blocking, thread-safe producer of the events stream, with a disk spool for Redis outages.

    Args:
        redis: a redis-py (or fakeredis) client; give it short socket timeouts
            (a hung server then only delays the background thread, never the caller).
        stream: the stream's name (setting ``events_stream``).
        maxlen: stream length from which new events wait in the spool instead (setting
            ``events_stream_maxlen``; approximate: each publisher may pass it by one batch); 0: no cap.
        spool_dir: folder of the spool (one ``slot-N`` sub-folder per process); None: no spool.
        spool_max_bytes: bound of the spool on disk.
        batch_size: events per pipelined ``XADD`` round trip.
        queue_max: bound of the in-memory queue.
        retry_interval_s: pause between two attempts while Redis is down.
        linger_s: after a wake-up, how long the thread lets events gather before it sends them (unless a
            whole batch is already there): at a few thousand events a second, one pipelined round trip
            carries a few milliseconds' worth of events instead of one or two, and the thread takes the
            GIL from the event loop a few hundred times a second instead of once per event.
        autostart: start the background thread now.
        pseudonymisation_key: client ids in the free text of failed attempts become their pseudonym
            (and the event's ``client_ref`` when it has none); None: they become ``redacted``.
    """

    def __init__(self, redis: Any, stream: str, *, maxlen: int = EVENTS_STREAM_MAXLEN,
                 spool_dir: str | Path | None = SPOOL_DIR, spool_max_bytes: int = SPOOL_MAX_BYTES,
                 batch_size: int = 500, queue_max: int = 100_000, retry_interval_s: float = 1.0,
                 linger_s: float = 0.002, autostart: bool = True, pseudonymisation_key: str | None = None) -> None:
        self.redis = redis
        self._pseudonymiser = Pseudonymiser(pseudonymisation_key)
        self._keyed = pseudonymisation_key is not None
        self.stream = stream
        self.maxlen = maxlen
        self.batch_size = batch_size
        self.queue_max = queue_max
        self.retry_interval_s = retry_interval_s
        self.linger_s = linger_s
        self._spool_dir = Path(spool_dir) if spool_dir is not None else None
        self._spool_max_bytes = spool_max_bytes
        self._spool: Spool | None = None
        self._queue: deque[bytes] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._in_hand = 0  # events of the thread's current batch: taken from the queue, not yet sent or spooled
        self._published = 0
        self._dropped = 0
        self._redis_ok = True
        self._last_error: str | None = None
        self._next_try = 0.0
        self._last_drop_log = 0.0
        self._unlogged_drops = 0
        self._unrecorded_drops = 0  # dropped, not yet written to {stream}:lost
        self._drop_reason = ""
        self._stream_full = False
        self._thread: threading.Thread | None = None
        self._sender: LoopSender | None = None
        if autostart:
            self.start()

    @classmethod
    def from_settings(cls, settings: Any, redis: Any, **kwargs: Any) -> EventPublisher:
        """A publisher configured from a service's settings.

        Reads ``events_stream``, ``events_stream_maxlen``, ``pseudonymisation_key``, ``spool_dir`` and
        ``spool_max_bytes``.
        """
        kwargs.setdefault("pseudonymisation_key", settings.pseudonymisation_key)
        return cls(redis, settings.events_stream, maxlen=settings.events_stream_maxlen, spool_dir=settings.spool_dir,
                   spool_max_bytes=settings.spool_max_bytes, **kwargs)

    def start(self) -> EventPublisher:
        """Open the spool (forwarding what a previous run left in it) and start the background thread."""
        if self._thread is not None:
            return self
        if self._spool_dir is not None:
            try:
                self._spool = Spool(self._spool_dir, self._spool_max_bytes)
            except OSError as exc:
                log.error("event spool unusable at %s (%s): events will be dropped while Redis is down",
                          self._spool_dir, exc)
            else:
                if self._spool.count:
                    log.warning("event spool %s holds %d events from a previous run: forwarding them",
                                self._spool.path, self._spool.count)
        self._thread = threading.Thread(target=self._run, name="event-publisher", daemon=True)
        self._thread.start()
        return self

    def attach_loop(self) -> bool:
        """Send the events published on the running event loop from that loop (call it on the loop).

        Returns:
            False when the Redis client is not a plain TCP redis-py client (Sentinel, TLS, a Unix
            socket, fakeredis): every event then goes through the thread, as without this call.
        """
        address = loop_address(self.redis)
        if address is None or self._sender is not None:
            return False
        timeout_s = address.pop("timeout_s")
        self._sender = LoopSender(self, asyncio.get_running_loop(), stream=self.stream, maxlen=self.maxlen,
                                  batch_size=self.batch_size, linger_s=self.linger_s, timeout_s=timeout_s,
                                  retry_interval_s=self.retry_interval_s, **address)
        self._sender.resume_soon()
        return True

    @property
    def loop_active(self) -> bool:
        """True while the events published on the attached event loop are sent from it (see :meth:`attach_loop`)."""
        return self._sender is not None and self._sender.active

    # --- the caller's side (any thread, never blocks) ---------------------------
    def publish(self, event: ScoringEvent | Mapping[str, Any]) -> bool:
        """Queue one event for the stream; returns False when it had to be dropped (counted and logged)."""
        event = self._pseudonymised(event)
        try:
            # orjson serialises the dataclass itself: the same bytes as event.to_json(), without
            # dataclasses.asdict's deep copy (about ten times slower, on the request path).
            data = orjson.dumps(event, option=orjson.OPT_SERIALIZE_NUMPY)
        except (TypeError, ValueError) as exc:
            log.error("event not serialisable, dropped: %s", exc)
            self._drop(1, "not serialisable")
            return False
        sender = self._sender
        if sender is not None and sender.active and threading.get_ident() == sender.thread_id:
            sender.add(data)  # the event loop's own connection (shared.stream_sender)
            return True
        with self._lock:
            if len(self._queue) >= self.queue_max or self._stopping.is_set():
                full = True
            else:
                full = False
                self._queue.append(data)
                self._idle.clear()
                # Wake the sender only when the queue was empty: while it holds events the
                # sender is draining anyway, and a wake-up per event (Event.set ->
                # Condition.notify) cost a fifth of the gateway's GIL time under load.
                first = len(self._queue) == 1
        if full:
            self._drop(1, "in-memory queue full" if not self._stopping.is_set() else "publisher closed")
            return False
        if first:
            self._wake.set()
        return True

    def _pseudonymised(self, event: ScoringEvent | Mapping[str, Any]) -> ScoringEvent | Mapping[str, Any]:
        """The event with client ids in its free text replaced by pseudonyms (the caller's object is not changed)."""
        if isinstance(event, ScoringEvent):
            if event.status == "ok" or (event.raw_input is None and event.error_message is None):
                return event
            raw, message, ref = event.raw_input, event.error_message, event.client_ref
        else:
            if event.get("status") == "ok":
                return event
            raw, message, ref = event.get("raw_input"), event.get("error_message"), event.get("client_ref")
        refs: list[str] = []
        if isinstance(raw, str):
            raw, refs = self._pseudonymiser.text_and_refs(raw)
        if isinstance(message, str):
            message, found = self._pseudonymiser.text_and_refs(message)
            refs += found
        if ref is None and refs and self._keyed:
            ref = refs[0]  # a malformed body's client: erasure and access find the event by it
        if isinstance(event, ScoringEvent):
            if (raw, message, ref) == (event.raw_input, event.error_message, event.client_ref):
                return event
            return dataclasses.replace(event, raw_input=raw, error_message=message, client_ref=ref)
        changed = {name: value for name, value in (("raw_input", raw), ("error_message", message),
                                                   ("client_ref", ref)) if value is not None}
        return {**event, **changed}

    def stats(self) -> dict[str, Any]:
        """``pending`` (in memory), ``spooled`` (on disk), ``dropped``, ``published``, ``redis_ok``,
        ``stream_full`` (the stream is at ``maxlen``: events wait in the spool), ``last_error``."""
        with self._lock:
            return {
                "pending": len(self._queue) + (self._sender.pending if self._sender is not None else 0),
                "spooled": self._spool.count if self._spool else 0,
                "dropped": self._dropped,
                "published": self._published,
                "redis_ok": self._redis_ok,
                "stream_full": self._stream_full,
                "last_error": self._last_error,
            }

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the in-memory queue is empty (events published or spooled); True if it is."""
        deadline = time.monotonic() + timeout
        if self._sender is not None and not self._sender.drain(timeout):
            return False
        self._wake.set()
        return self._idle.wait(max(0.0, deadline - time.monotonic()))

    def close(self, timeout: float = 5.0) -> None:
        """Send or spool what is queued (for at most ``timeout`` s), stop the thread, release the spool.

        Events still in memory after the timeout are counted as dropped.
        """
        if self._sender is not None:  # what the event loop holds comes back to the queue first
            self._sender.close(timeout)
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("event publisher did not finish within %.1f s", timeout)
        with self._lock:
            left = len(self._queue)
            self._queue.clear()
        if left:
            self._drop(left, "publisher closed before they could be sent or spooled")
        # the thread still running (hung on Redis) would record the same drops: only log then
        self._report_drops(final=True, record=self._thread is None or not self._thread.is_alive())
        if self._spool is not None and (self._thread is None or not self._thread.is_alive()):
            if self._spool.count:
                log.warning("event spool %s keeps %d events for the next start", self._spool.path, self._spool.count)
            self._spool.close()

    # --- the background thread ------------------------------------------------------
    def _run(self) -> None:
        while True:
            woken = self._wake.wait(timeout=min(0.5, self.retry_interval_s))
            stopping = self._stopping.is_set()
            if woken and not stopping and self.linger_s > 0 and len(self._queue) < self.batch_size:
                time.sleep(self.linger_s)  # let the events of the next milliseconds join this round trip
            self._wake.clear()
            try:
                self._drain(final=stopping)
            except Exception:  # the thread must survive anything (a full disk, a bug): log and go on
                log.exception("event publisher: unexpected error")
                time.sleep(0.1)
            if self._stream_full:
                self._recheck_full()
            if self._unrecorded_drops or self._unlogged_drops:
                self._report_drops()
            with self._lock:
                if not self._queue:
                    self._idle.set()
            if self._sender is not None and not self._sender.active and self._healthy():
                # Redis answers and nothing is spooled: the loop may take over (see _hand_over), even
                # while events keep arriving here (a server under steady load is never idle)
                self._sender.resume_soon()
            if stopping:
                return

    # --- what the event loop's sender asks of the publisher ----------------------------------
    def _healthy(self) -> bool:
        """Redis answering, the stream under its cap, nothing spooled, not closing."""
        spool = self._spool
        return (self._redis_ok and not self._stream_full and not self._stopping.is_set()
                and not (spool is not None and spool.count))

    def _hand_over(self, limit: int) -> list[bytes] | None:
        """On the attached loop's thread: the queued events, for the loop to send before its own; None when it may
        not take over yet.

        It may when the publisher is :meth:`_healthy`, the thread holds no batch it has taken and not yet
        sent or spooled (which would reach the stream after the loop's), and at most ``limit`` events
        wait. The queue then moves to the loop whole, under the lock the thread takes them with: the
        events keep their order, and the loop's own follow them.
        """
        with self._lock:
            if self._in_hand or len(self._queue) > limit or not self._healthy():
                return None
            events = list(self._queue)
            self._queue.clear()
            self._idle.set()
            return events

    def _take_back(self, events: list[bytes], reason: str | None = None) -> None:
        """Events the loop could not get acknowledged: first in the queue, for the thread to send or spool."""
        if reason:
            log.warning("events stream: %s; the publisher thread sends them again", reason)
        if not events:
            return
        with self._lock:
            self._queue.extendleft(reversed(events))  # never dropped here: they were accepted already
            self._idle.clear()
        self._wake.set()

    def _acknowledged(self, count: int) -> None:
        with self._lock:
            self._published += count

    def _take(self) -> list[bytes]:
        """The next batch; until the next call it is "in hand" (no hand-over to the loop meanwhile)."""
        with self._lock:
            n = self._in_hand = min(self.batch_size, len(self._queue))
            return [self._queue.popleft() for _ in range(n)]

    def _drain(self, final: bool = False) -> None:
        spool = self._spool
        if spool is not None and spool.count and self._may_try(final):
            self._forward_spool(spool)
        while True:
            batch = self._take()
            if not batch:
                return
            if spool is not None and spool.count:  # older events wait on disk: keep the order
                self._to_spool(batch)
            elif self._may_try(final) and self._send(batch):
                continue
            else:
                self._to_spool(batch)

    def _may_try(self, final: bool) -> bool:
        return (self._redis_ok and not self._stream_full) or final or time.monotonic() >= self._next_try

    def _send(self, batch: list[bytes]) -> bool:
        """XADD the batch (no trimming: see the module docstring); False when it must be spooled."""
        try:
            if self._stream_full and self._length() >= self.maxlen:
                self._next_try = time.monotonic() + self.retry_interval_s
                return False
            pipe = self.redis.pipeline(transaction=False)
            for data in batch:
                pipe.xadd(self.stream, {"event": data})
            if self.maxlen:
                pipe.xlen(self.stream)  # same round trip: the length the next batch will be judged on
            replies = pipe.execute()
        except Exception as exc:  # redis.RedisError, OSError...: Redis is down or refusing
            with self._lock:
                if self._redis_ok:
                    log.warning("Redis unavailable for the events stream (%s): spooling events", exc)
                self._redis_ok = False
                self._last_error = f"{type(exc).__name__}: {exc}"
            self._next_try = time.monotonic() + self.retry_interval_s
            return False
        with self._lock:
            self._published += len(batch)
            if not self._redis_ok:
                log.warning("Redis is back for the events stream")
            self._redis_ok = True
        if self.maxlen:
            self._set_full(int(replies[-1]))
        return True

    def _length(self) -> int:
        """The stream's length now (one round trip); updates the full state."""
        length = int(self.redis.xlen(self.stream))
        self._set_full(length)
        return length

    def _recheck_full(self) -> None:
        """While the stream is full, look at its length once per retry interval even with nothing to send,
        so that ``stats()`` says when it has room again."""
        if time.monotonic() < self._next_try:
            return
        try:
            if self._length() >= self.maxlen:
                self._next_try = time.monotonic() + self.retry_interval_s
        except Exception:  # Redis down: the next send finds out and says so
            self._next_try = time.monotonic() + self.retry_interval_s

    def _set_full(self, length: int) -> None:
        full = length >= self.maxlen
        if full == self._stream_full:
            return
        with self._lock:
            self._stream_full = full
        if full:
            self._next_try = time.monotonic() + self.retry_interval_s
            log.warning("events stream %s holds %d entries (cap %d, EVENTS_STREAM_MAXLEN): new events wait in "
                        "the spool until the indexer has stored enough of them", self.stream, length, self.maxlen,
                        extra={"event": "events_stream_full", "stream_length": length, "maxlen": self.maxlen})
        else:
            log.warning("events stream %s is below its cap again (%d entries): forwarding", self.stream, length)

    def _forward_spool(self, spool: Spool) -> None:
        forwarded = 0
        while spool.count:
            lines = spool.read(self.batch_size)
            if not lines or not self._send(lines):
                break
            spool.consume(len(lines))
            forwarded += len(lines)
        if forwarded:
            log.info("forwarded %d spooled events to the stream (%d left in the spool)", forwarded, spool.count)

    def _to_spool(self, batch: list[bytes]) -> None:
        kept = 0
        if self._spool is not None:
            try:
                kept = self._spool.append(batch)
            except OSError as exc:
                log.error("event spool write failed: %s", exc)
        if kept < len(batch):
            cause = "the stream is at its cap" if self._redis_ok and self._stream_full else "Redis down"
            self._drop(len(batch) - kept, f"{cause} and the spool is full" if self._spool else f"{cause} and no spool")

    def _drop(self, n: int, reason: str) -> None:
        with self._lock:
            self._dropped += n
            self._unlogged_drops += n
            self._unrecorded_drops += n
            self._drop_reason = reason
            now = time.monotonic()
            if now - self._last_drop_log < _DROP_LOG_EVERY_S:
                return
            count, self._unlogged_drops, self._last_drop_log = self._unlogged_drops, 0, now
            total = self._dropped
        self._log_drops(count, reason, total)

    @staticmethod
    def _log_drops(count: int, reason: str, total: int) -> None:
        log.error("DROPPED %d scoring events (%s); %d dropped since start", count, reason, total,
                  extra={"event": "events_dropped", "dropped": count, "dropped_total": total, "reason": reason})

    def _report_drops(self, final: bool = False, record: bool = True) -> None:
        """Log the drops the rate limit held back, and record the unrecorded ones in ``{stream}:lost``.

        Runs in the background thread (and once at close): the caller's ``publish`` never waits for Redis.
        """
        with self._lock:
            now = time.monotonic()
            logged = 0
            if self._unlogged_drops and (final or now - self._last_drop_log >= _DROP_LOG_EVERY_S):
                logged, self._unlogged_drops, self._last_drop_log = self._unlogged_drops, 0, now
            unrecorded, reason, total = self._unrecorded_drops, self._drop_reason, self._dropped
        if logged:
            self._log_drops(logged, reason, total)
        if not unrecorded or not record or not (self._redis_ok or final or now >= self._next_try):
            return
        try:
            record_loss(self.redis, self.stream, unrecorded, "publisher", reason)
        except Exception as exc:  # Redis down: the count waits for the next attempt
            self._next_try = time.monotonic() + self.retry_interval_s
            if final:
                log.error("could not record %d dropped events in %s%s: %s", unrecorded, self.stream, LOST_SUFFIX,
                          exc)
            return
        with self._lock:
            self._unrecorded_drops -= unrecorded
