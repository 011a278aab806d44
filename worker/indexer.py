"""The indexer: events from the Redis Stream into the store, acknowledged only once stored.

It reads the stream with a consumer group (``XREADGROUP``), bulk-writes each
batch through :meth:`EventStore.index_events`, and ``XACK``s an entry only
after the store confirmed it. An entry is never dropped silently:

- stored: acknowledged;
- refused for good (the mapping rejects it, or it is not JSON): copied to the
  dead-letter stream ``{stream}:dead`` with the reason, then acknowledged, in
  one ``MULTI``;
- not stored this time (store down, overloaded, index closed): left pending,
  read again from this consumer's pending list after a back-off.

At start, and every ``claim_interval_s``, entries left pending by a consumer
that died are claimed (``XAUTOCLAIM`` past ``claim_idle_ms``). Replays are
harmless: the event id is the document id.

The indexer is the only one to trim the stream, and only what every consumer
group has acknowledged: ``XTRIM MINID`` up to the oldest entry still pending
or not yet delivered (:meth:`Indexer.trim`, after acknowledged batches).
Entries removed by anything else before the group read them (a hand-run
``XTRIM``, a publisher of an older release still using ``MAXLEN``) are
counted when the group reads past the gap: new entries are read in one
``MULTI`` with ``XINFO STREAM`` and ``XINFO GROUPS``, and the entries the
stream has lost from its head (``entries-added - length``) minus those the
group had read (``entries-read``) is the number lost. Each loss is logged as an
error (``events_lost``), counted in ``totals["lost"]`` and recorded in the
stream ``{stream}:lost``, which the monitoring's anomaly check alerts on.

Run it with ``python -m worker.indexer`` (or ``python -m worker indexer``).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

import orjson

from shared.backoff import next_delay
from shared.publisher import LOST_SUFFIX, record_loss
from shared.settings import INDEXER_BATCH_SIZE, INDEXER_GROUP
from shared.store.base import EventStore, IndexResult
from shared.store.factory import describe
from worker.settings import INDEXER_BLOCK_MS, INDEXER_LINGER_MS

logger = logging.getLogger("worker.indexer")

DEAD_SUFFIX = ":dead"
Entry = tuple[bytes, dict[bytes, bytes] | None]
StreamId = tuple[int, int]


class Indexer:
    """Moves events from a Redis Stream consumer group into an :class:`EventStore`.

    Args:
        redis: a redis-py (or fakeredis) client, bytes responses (no ``decode_responses``).
        store: the event store (``setup()`` is called by :meth:`run_forever`).
        stream: the events stream.
        group: the consumer group.
        consumer: this consumer's name in the group (default: host name).
        batch_size: entries per read and per bulk request.
        block_ms: how long a read waits for new entries.
        dead_stream: where refused entries go (default ``{stream}:dead``).
        claim_idle_ms: entries pending longer than this in another consumer are taken over.
        claim_interval_s: how often to look for such entries.
        max_backoff_s: longest pause between retries while the store is down.
        threads: consumers run by :meth:`run_forever` (``{consumer}``, ``{consumer}-1``, ...), so that
            one batch is prepared while another is written.
        trim_interval_s: least time between two trims of the stream by this consumer.
        probe_interval_s: while retrying its pending list (store down), how often this consumer reads one
            new entry, so that entries cut from the stream in the meantime are counted without waiting.
        shadow: adds the challenger's score to a share of the events before they are stored (or None).
        linger_ms: in :meth:`run_forever`, after a batch smaller than ``batch_size``, how long a consumer waits
            before its next read, so that the next bulk is larger (each bulk and acknowledgement has a fixed
            cost, in the indexer, Redis and Elasticsearch); an event waits at most that much longer.
    """

    def __init__(self, redis: Any, store: EventStore, stream: str, group: str = INDEXER_GROUP,
                 consumer: str | None = None, batch_size: int = INDEXER_BATCH_SIZE, block_ms: int = INDEXER_BLOCK_MS, *,
                 dead_stream: str | None = None, claim_idle_ms: int = 60_000, claim_interval_s: float = 60.0,
                 max_backoff_s: float = 30.0, threads: int = 2, trim_interval_s: float = 1.0,
                 probe_interval_s: float = 10.0, shadow: Any = None, linger_ms: int = INDEXER_LINGER_MS) -> None:
        self.redis = redis
        self.shadow = shadow  # a shared.shadow.ShadowScorer: the challenger scores a share of each batch
        self.store = store
        self.stream = stream
        self.group = group
        self.consumer = consumer or f"indexer-{socket.gethostname()}"
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.dead_stream = dead_stream or stream + DEAD_SUFFIX
        self.claim_idle_ms = claim_idle_ms
        self.claim_interval_s = claim_interval_s
        self.max_backoff_s = max_backoff_s
        self.threads = max(1, threads)
        self.trim_interval_s = trim_interval_s
        self.probe_interval_s = probe_interval_s
        self.linger_s = linger_ms / 1000
        self.backoff_s = 0.0  # pause asked for by the last run_once (0 when it went well)
        # shared by the threads; "lost": removed from the stream before being stored ("trimmed": those of them
        # that were already pending)
        self.totals = {"indexed": 0, "dead": 0, "retried": 0, "trimmed": 0, "lost": 0}
        self._totals_lock = threading.Lock()
        self._group_ready = False
        self._own_pending = True  # read our pending list before new entries
        self._next_claim = 0.0
        self._next_trim = 0.0
        self._trim_owed = False  # entries acknowledged since the last trim
        self._next_probe = 0.0

    # --- one step -------------------------------------------------------------
    def run_once(self) -> int:
        """Read one batch and store it; returns how many entries were acknowledged.

        Never sleeps (but the read blocks up to ``block_ms`` when idle); when the
        store failed, sets :attr:`backoff_s` for the caller to wait.

        Raises:
            redis.RedisError: when Redis itself fails (nothing is acknowledged then).
        """
        if not self._group_ready:
            self.ensure_group()
        if time.monotonic() >= self._next_claim:
            self.claim_abandoned()
        try:
            entries = self._read()
        except Exception as exc:
            if "NOGROUP" in str(exc) or "no such key" in str(exc):
                self._group_ready = False  # Redis restarted without persistence: the stream and group are new
            raise
        if not entries:
            if self._trim_owed and time.monotonic() >= self._next_trim:
                self._trim_quietly()
            return 0
        return self._process(entries)

    def ensure_group(self) -> None:
        """Create the consumer group (from the stream's start, so older events are indexed too) if absent."""
        try:
            self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except Exception as exc:  # redis.ResponseError BUSYGROUP: it exists already
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def claim_abandoned(self) -> int:
        """Take over entries left pending too long by other consumers (a crashed indexer); returns how many."""
        self._next_claim = time.monotonic() + self.claim_interval_s
        claimed, start = 0, "0-0"
        for _ in range(1000):  # bounded: each call scans up to batch_size entries of the pending list
            # Not JUSTID: redis-py then drops the cursor. The entries read here are read again from the pending list.
            reply = self.redis.xautoclaim(self.stream, self.group, self.consumer, self.claim_idle_ms,
                                          start_id=start, count=self.batch_size)
            start = reply[0]
            claimed += len(reply[1])
            if start in (b"0-0", "0-0"):
                break
        if claimed:
            logger.warning("indexer claimed %d entries abandoned by another consumer", claimed)
            self._own_pending = True
        return claimed

    def _read(self) -> list[Entry]:
        if self._own_pending:
            if self.backoff_s and time.monotonic() >= self._next_probe:
                # retrying (store down): one new entry joins our pending list (read just below), so a gap
                # in front of the group is counted now rather than once the store is back
                self._next_probe = time.monotonic() + self.probe_interval_s
                self._read_new(1, wait=False)
            reply = self.redis.xreadgroup(self.group, self.consumer, {self.stream: "0"}, count=self.batch_size)
            entries = reply[0][1] if reply else []
            if entries:
                return list(entries)
            self._own_pending = False
        return self._read_new(self.batch_size)

    def _read_new(self, count: int, wait: bool = True) -> list[Entry]:
        """New entries (``>``), read atomically with the stream's and groups' counters to count any gap.

        Inside ``MULTI`` the read cannot block: when nothing is new, wait up to ``block_ms`` for an entry
        past the stream's last id (``XREAD``, which consumes nothing) and let the next call read it.
        """
        pipe = self.redis.pipeline(transaction=True)
        pipe.xinfo_stream(self.stream)
        pipe.xinfo_groups(self.stream)
        pipe.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count=count)
        pipe.xinfo_groups(self.stream)
        info, before, reply, after = pipe.execute()
        entries: list[Entry] = list(reply[0][1]) if reply else []
        if entries:
            self._account_gap(info, self._group_of(before), self._group_of(after), entries)
        elif wait:
            self.redis.xread({self.stream: info["last-generated-id"]}, count=1, block=self.block_ms)
        return entries

    def _group_of(self, groups: list[dict[str, Any]]) -> dict[str, Any] | None:
        for group in groups:
            if _text(group["name"]) == self.group:
                return group
        return None

    def _account_gap(self, info: dict[str, Any], before: dict[str, Any] | None, after: dict[str, Any] | None,
                     entries: list[Entry]) -> None:
        """Count the entries cut from the stream between the group's last read and ``entries`` (if any).

        ``info``, ``before`` and ``after`` come from the same ``MULTI`` as the read. When the group's last
        delivered id lies before the stream's first entry, the read starts at that first entry, and the
        entries removed from the head that the group never read number ``(entries-added - length) -
        entries-read``. ``entries-read`` must then stay the logical position of the last delivered
        entry for the next gap to be counted right: Redis 7.0 to 7.4 only add the entries delivered
        after a gap (newer servers and fakeredis recompute it), so it is set back with ``XGROUP SETID``.
        If another consumer read in between, that rewinds the group a little: its entries are read
        again, which the document ``_id`` makes harmless.
        """
        first = info.get("first-entry")
        if before is None or after is None or not first:
            return
        last_delivered = _text(before["last-delivered-id"])
        if _parse_id(last_delivered) >= _parse_id(_text(first[0])):
            return  # the group was inside the stream: nothing in front of it was removed
        head = int(info["entries-added"]) - int(info["length"])  # entries ever removed from the head
        read = before.get("entries-read")
        if read is not None and head > int(read):
            self._lost(head - int(read), "removed from the stream before the indexer read them",
                       after_id=last_delivered, before_id=_text(first[0]))
        last_read = _text(entries[-1][0])
        expected = head + len(entries)
        if _text(after["last-delivered-id"]) == last_read and after.get("entries-read") != expected:
            self.redis.xgroup_setid(self.stream, self.group, last_read, entries_read=expected)

    def _lost(self, count: int, reason: str, **fields: str) -> None:
        """Log, count and record (``{stream}:lost``) events that can no longer be stored."""
        self._count(lost=count)
        logger.error("indexer: %d events %s (lost)", count, reason,
                     extra={"event": "events_lost", "lost": count, "stream": self.stream, "reason": reason,
                            **fields})
        try:
            record_loss(self.redis, self.stream, count, "indexer", reason, **fields)
        except Exception as exc:  # the log line and the total hold it; the record is for the monitoring
            logger.error("indexer: could not record the loss in %s%s: %s", self.stream, LOST_SUFFIX, exc)

    def trim(self) -> int:
        """Remove what every consumer group has acknowledged: ``XTRIM MINID`` to the oldest entry still needed.

        Needed: an entry pending in a group, or after a group's last delivered id. Both only move
        forward, so the bound read here stays safe while other consumers work. Returns the entries removed.
        """
        self._next_trim = time.monotonic() + self.trim_interval_s
        self._trim_owed = False
        groups = self.redis.xinfo_groups(self.stream)
        if not groups:
            return 0  # nobody reads this stream yet: keep everything
        pipe = self.redis.pipeline(transaction=False)
        for group in groups:
            pipe.xpending(self.stream, group["name"])
        keep: StreamId | None = None
        for group, pending in zip(groups, pipe.execute(), strict=True):
            ms, seq = _parse_id(_text(group["last-delivered-id"]))
            bounds = [(ms, seq + 1)]
            if pending["pending"]:
                bounds.append(_parse_id(_text(pending["min"])))
            keep = min([*bounds, keep] if keep is not None else bounds)
        assert keep is not None
        # exact, not `~`: with ~1.8 KB events a node holds two or three entries, so exactness costs little
        return int(self.redis.xtrim(self.stream, minid=f"{keep[0]}-{keep[1]}", approximate=False))

    def _trim_quietly(self) -> None:
        try:
            self.trim()
        except Exception as exc:  # the next acknowledged batch tries again
            logger.warning("indexer: could not trim %s: %s: %s", self.stream, type(exc).__name__, exc)

    def _process(self, entries: Sequence[Entry]) -> int:
        if self.shadow is None:
            return self._process_raw(entries)
        started = time.perf_counter()
        docs: list[dict[str, Any]] = []
        doc_entries: list[bytes] = []
        raws: dict[bytes, bytes] = {}
        dead: dict[bytes, str] = {}
        trimmed: list[bytes] = []
        for entry_id, fields in entries:
            if not fields:  # pending, but trimmed from the stream (MAXLEN) before we stored it
                trimmed.append(entry_id)
                continue
            raw = fields.get(b"event", b"")
            raws[entry_id] = raw
            try:
                doc = orjson.loads(raw)
                if not isinstance(doc, dict):
                    raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
            except ValueError as exc:
                dead[entry_id] = f"undecodable: {exc}"
                continue
            docs.append(doc)
            doc_entries.append(entry_id)
        if self.shadow is not None and docs:
            self.shadow.annotate(docs)  # never raises: the champion's events are stored regardless
        try:
            result = self.store.index_events(docs) if docs else IndexResult()
        except Exception as exc:  # StoreUnavailableError, or anything else: keep the entries, retry later
            self._retry_later(len(entries), f"{type(exc).__name__}: {exc}")
            return 0
        retry = _entries_for(result.retry, docs, doc_entries)
        for entry_id, reason in _entries_for(result.failed, docs, doc_entries).items():
            dead[entry_id] = reason
        return self._settle(entries, result, retry, dead, raws, trimmed, started)

    def _process_raw(self, entries: Sequence[Entry]) -> int:
        """:meth:`_process` without decoding: the store takes the entries' bytes as they are (no shadow scoring)."""
        started = time.perf_counter()
        raw_entries: list[bytes] = []
        raws: list[bytes] = []
        trimmed: list[bytes] = []
        for entry_id, fields in entries:
            if not fields:  # pending, but trimmed from the stream (MAXLEN) before we stored it
                trimmed.append(entry_id)
                continue
            raws.append(fields.get(b"event", b""))
            raw_entries.append(entry_id)
        try:
            result = self.store.index_raw_events(raws) if raws else IndexResult()
        except Exception as exc:  # StoreUnavailableError, or anything else: keep the entries, retry later
            self._retry_later(len(entries), f"{type(exc).__name__}: {exc}")
            return 0
        retry = _by_position(result.retry, raw_entries)
        dead = _by_position(result.failed, raw_entries)
        by_entry = dict(zip(raw_entries, raws, strict=True)) if dead else {}  # the dead letters carry their bytes
        return self._settle(entries, result, retry, dead, by_entry, trimmed, started)

    def _settle(self, entries: Sequence[Entry], result: IndexResult, retry: dict[bytes, str],
                dead: dict[bytes, str], raws: dict[bytes, bytes], trimmed: list[bytes], started: float) -> int:
        """Acknowledge what is stored or dead-lettered, keep what is to retry, count and log the batch."""
        ack = [entry_id for entry_id, _ in entries if entry_id not in retry]
        self._acknowledge(ack, dead, raws)
        if trimmed:
            self._lost(len(trimmed), "trimmed from the stream while pending, before being stored",
                       first_id=trimmed[0].decode(), last_id=trimmed[-1].decode())
        self._count(indexed=result.indexed, dead=len(dead), trimmed=len(trimmed))
        if retry:
            self._retry_later(len(retry), next(iter(result.retry.values())))
        else:
            self.backoff_s = 0.0
        if ack:
            self._trim_owed = True
            if time.monotonic() >= self._next_trim:
                self._trim_quietly()
        logger.info("batch", extra={
            "stream": self.stream, "entries": len(entries), "indexed": result.indexed, "dead": len(dead),
            "retry": len(retry), "trimmed": len(trimmed), "ms": round((time.perf_counter() - started) * 1000, 1),
        })
        return len(ack)

    def _acknowledge(self, ack: list[bytes], dead: dict[bytes, str], raws: dict[bytes, bytes]) -> None:
        if not ack:
            return
        pipe = self.redis.pipeline(transaction=True)  # dead letters and acks together, or neither
        for entry_id, reason in dead.items():
            pipe.xadd(self.dead_stream, {"event": raws.get(entry_id, b""), "reason": reason,
                                         "stream_id": entry_id, "stream": self.stream})
        pipe.xack(self.stream, self.group, *ack)
        pipe.execute()
        for entry_id, reason in list(dead.items())[:5]:
            logger.error("indexer: entry %s sent to %s: %s", entry_id.decode(), self.dead_stream, reason)

    def _count(self, **figures: int) -> None:
        with self._totals_lock:
            for name, value in figures.items():
                self.totals[name] += value

    def _retry_later(self, n: int, reason: str) -> None:
        self._own_pending = True
        self._count(retried=n)
        self.backoff_s = next_delay(self.backoff_s, 0.5, self.max_backoff_s)
        logger.warning("indexer: %d entries not stored (%s): retrying in %.1f s", n, reason, self.backoff_s)

    # --- the loop ---------------------------------------------------------------
    def run_forever(self, stop: threading.Event) -> None:
        """Set the store up (waiting for it), then index with ``threads`` consumers until ``stop`` is set.

        Survives store and Redis outages (entries stay pending and are retried).
        """
        self._setup_store(stop)
        if stop.is_set():
            return
        logger.info("indexer ready: stream=%s, group=%s, consumer=%s, threads=%d, store=%s",
                    self.stream, self.group, self.consumer, self.threads, describe(self.store))
        siblings = [threading.Thread(target=self._sibling(i)._loop, args=(stop,), name=f"indexer-{i}", daemon=True)
                    for i in range(1, self.threads)]
        for thread in siblings:
            thread.start()
        self._loop(stop)
        for thread in siblings:
            thread.join()
        logger.info("indexer stopped: %s", self.totals)

    def _sibling(self, number: int) -> Indexer:
        """Another consumer of the same group, counting into the same totals."""
        sibling = Indexer(self.redis, self.store, self.stream, self.group, f"{self.consumer}-{number}",
                          self.batch_size, self.block_ms, dead_stream=self.dead_stream,
                          claim_idle_ms=self.claim_idle_ms, claim_interval_s=self.claim_interval_s,
                          max_backoff_s=self.max_backoff_s, threads=1, trim_interval_s=self.trim_interval_s,
                          probe_interval_s=self.probe_interval_s, shadow=self.shadow,
                          linger_ms=round(self.linger_s * 1000))
        sibling.totals, sibling._totals_lock = self.totals, self._totals_lock
        return sibling

    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            stored = 0
            try:
                stored = self.run_once()
            except Exception as exc:  # Redis down, or a bug: log, wait, go on (entries stay pending)
                self.backoff_s = next_delay(self.backoff_s, 1.0, self.max_backoff_s)
                logger.error("indexer %s: %s: %s; retrying in %.1f s", self.consumer, type(exc).__name__, exc,
                             self.backoff_s)
            pause = self.pause_after(stored)
            if pause:
                stop.wait(pause)

    def pause_after(self, stored: int) -> float:
        """Seconds to wait before the next read: the back-off after a failure, else ``linger_ms`` after a
        batch smaller than ``batch_size`` (the next one gathers), else none (a full batch, or an empty read,
        which has waited in Redis already)."""
        if self.backoff_s:
            return self.backoff_s
        return self.linger_s if 0 < stored < self.batch_size else 0.0

    def _setup_store(self, stop: threading.Event) -> None:
        pause = 0.0
        while not stop.is_set():
            try:
                self.store.setup()
                return
            except Exception as exc:
                pause = next_delay(pause, 1.0, self.max_backoff_s)
                logger.warning("indexer: store not ready (%s): retrying in %.0f s", exc, pause)
                stop.wait(pause)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _parse_id(entry_id: str) -> StreamId:
    """``"1700000000000-3"`` -> ``(1700000000000, 3)``, which compares as Redis orders ids."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _by_position(by_key: dict[str, str], entry_ids: list[bytes]) -> dict[bytes, str]:
    """Stream entry ids of the results keyed ``<document N>`` (N: position in ``entry_ids``)."""
    found: dict[bytes, str] = {}
    for key, reason in by_key.items():
        position = key.removeprefix("<document ").removesuffix(">")
        if position.isdigit() and int(position) < len(entry_ids):
            found[entry_ids[int(position)]] = reason
    return found


def _entries_for(by_event: dict[str, str], docs: list[dict[str, Any]], doc_entries: list[bytes]) -> dict[bytes, str]:
    """Stream entry ids of the documents named in an IndexResult dict (event id, or ``<document N>``)."""
    if not by_event:
        return {}
    found: dict[bytes, str] = {}
    for position, (doc, entry_id) in enumerate(zip(docs, doc_entries, strict=True)):
        reason = by_event.get(str(doc.get("event_id"))) or by_event.get(f"<document {position}>")
        if reason is not None:
            found[entry_id] = reason
    return found


if __name__ == "__main__":  # pragma: no cover - same as `python -m worker indexer`
    import sys

    from worker.__main__ import main

    raise SystemExit(main(["indexer", *sys.argv[1:]]))
