"""The stream's length cap with Elasticsearch down, on the real Redis and Elasticsearch: nothing lost silently.

Elasticsearch "goes down" for the indexer by cutting a TCP proxy (tests/utils/tcp_proxy.py).

1. Cap 200, 2,000 events published while Elasticsearch is down: the publisher
   stops adding at the cap and keeps the rest in its spool; once Elasticsearch
   is back all 2,000 are stored exactly once, and the indexer's trimming leaves
   the stream empty.
2. The same with a spool that holds only 300 events: what neither the stream
   nor the spool can take is dropped, and every drop is counted, logged and
   recorded in ``{stream}:lost``: stored + dropped = published, exactly.
3. Something else trims the stream (a publisher of an older release using
   ``MAXLEN``), twice: the indexer counts, logs and records the entries cut
   before it read them; stored + lost = published, exactly. On Redis 7.0 to
   7.4 the second count relies on the read counter set back after the first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson
import pytest
import redis as redis_lib

from shared.publisher import EventPublisher
from shared.store.elastic import ElasticsearchEventStore
from tests.integration.test_indexer_outage import run_indexer, stored_exactly_once
from tests.utils.events import many_events
from tests.utils.servers import require_elasticsearch
from tests.utils.tcp_proxy import TcpProxy
from tests.utils.waiting import wait_until
from worker.indexer import Indexer

pytestmark = pytest.mark.integration

CAP = 200


@pytest.fixture
def es_proxy() -> Iterator[TcpProxy]:
    es_url = urlparse(require_elasticsearch())
    with TcpProxy(es_url.port or 9200, es_url.hostname or "127.0.0.1") as proxy:
        yield proxy


def proxied_indexer(redis_client: redis_lib.Redis, stream: str, store: ElasticsearchEventStore, proxy: TcpProxy,
                    **kwargs: Any) -> Indexer:
    through = ElasticsearchEventStore(f"http://{proxy.url_host}", store.prefix)
    through.client = through.client.options(request_timeout=5, max_retries=0)
    return Indexer(redis_client, through, stream, consumer="cap", batch_size=200, block_ms=200, max_backoff_s=1.0,
                   probe_interval_s=0.5, **kwargs)


def stored_once(store: ElasticsearchEventStore, events: list[dict[str, Any]]) -> int:
    """How many of ``events`` are stored; fails if the index holds anything twice or anything else."""
    store.refresh()
    ids = [e["event_id"] for e in events]
    found = 0
    for k in range(0, len(ids), 5_000):
        found += store.client.count(index=store.events_pattern, query={"ids": {"values": ids[k:k + 5_000]}})["count"]
    assert store.count_events() == found
    return found


def recorded_losses(redis_client: redis_lib.Redis, stream: str) -> dict[str, int]:
    """Events lost per source, from the records of ``{stream}:lost``."""
    totals: dict[str, int] = {}
    for _, fields in redis_client.xrange(f"{stream}:lost"):
        source = fields[b"source"].decode()
        totals[source] = totals.get(source, 0) + int(fields[b"count"])
    return totals


def start_indexer(indexer: Indexer) -> tuple[threading.Event, threading.Thread]:
    """Run the indexer in a thread, and wait until its consumer group exists (its store was set up)."""
    stop, thread = run_indexer(indexer)
    wait_until(lambda: indexer.redis.exists(indexer.stream) and indexer.redis.xinfo_groups(indexer.stream),
               timeout=60)
    return stop, thread


def delivered_all(redis_client: redis_lib.Redis, stream: str) -> bool:
    """The group has read up to the stream's last entry and acknowledged everything."""
    group = redis_client.xinfo_groups(stream)[0]
    return bool(group["last-delivered-id"] == redis_client.xinfo_stream(stream)["last-generated-id"]
                and group["pending"] == 0)


def stop_indexer(stop: threading.Event, thread: threading.Thread) -> None:
    stop.set()
    thread.join(30)
    assert not thread.is_alive()


def test_capped_stream_with_elasticsearch_down_loses_nothing(redis_client: redis_lib.Redis, stream: str,
                                                             es_store: ElasticsearchEventStore, es_proxy: TcpProxy,
                                                             tmp_path: Path) -> None:
    n = 2_000
    events = many_events(n)
    indexer = proxied_indexer(redis_client, stream, es_store, es_proxy)
    stop, thread = start_indexer(indexer)
    es_proxy.stop()  # Elasticsearch "goes down" for the indexer
    publisher = EventPublisher(redis_client, stream, maxlen=CAP, batch_size=50, spool_dir=tmp_path / "spool",
                               retry_interval_s=0.2)
    try:
        for event in events:
            publisher.publish(event)
        assert publisher.flush(60)
        wait_until(lambda: indexer.totals["retried"] > 0, timeout=60)
        down = publisher.stats()
        length = redis_client.xlen(stream)
        assert CAP <= length < CAP + 50  # never trimmed by the publisher; it stopped adding at the cap
        assert down["stream_full"] and down["spooled"] == n - length and down["dropped"] == 0
        es_proxy.start()  # back
        wait_until(lambda: indexer.totals["indexed"] >= n and publisher.stats()["spooled"] == 0, timeout=300,
                   interval=0.5)
        # everything acknowledged is trimmed: the stream is empty again
        wait_until(lambda: redis_client.xlen(stream) == 0, timeout=30)
    finally:
        publisher.close()
        stop_indexer(stop, thread)
    assert publisher.stats()["dropped"] == 0 and indexer.totals["lost"] == 0
    assert recorded_losses(redis_client, stream) == {}
    stored_exactly_once(es_store, events)


def test_capped_stream_and_full_spool_count_every_lost_event(redis_client: redis_lib.Redis, stream: str,
                                                             es_store: ElasticsearchEventStore, es_proxy: TcpProxy,
                                                             tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="shared.publisher")
    n = 2_000
    events = many_events(n)
    line = len(orjson.dumps(events[0])) + 1
    indexer = proxied_indexer(redis_client, stream, es_store, es_proxy)
    stop, thread = start_indexer(indexer)
    es_proxy.stop()
    publisher = EventPublisher(redis_client, stream, maxlen=CAP, batch_size=50, spool_dir=tmp_path / "spool",
                               spool_max_bytes=line * 300, retry_interval_s=0.2)
    try:
        for event in events:
            publisher.publish(event)
        assert publisher.flush(60)
        down = publisher.stats()
        assert down["stream_full"] and down["dropped"] > 0
        es_proxy.start()
        wait_until(lambda: publisher.stats()["spooled"] == 0
                   and indexer.totals["indexed"] >= n - publisher.stats()["dropped"], timeout=300, interval=0.5)
    finally:
        publisher.close()
        stop_indexer(stop, thread)
    dropped = publisher.stats()["dropped"]
    assert dropped == down["dropped"]  # nothing more once Elasticsearch was back
    assert stored_once(es_store, events) + dropped == n  # exactly the dropped ones are missing
    logged = sum(r.dropped for r in caplog.records if getattr(r, "event", None) == "events_dropped")
    assert logged == dropped
    assert recorded_losses(redis_client, stream) == {"publisher": dropped}
    assert indexer.totals["lost"] == 0


def test_entries_cut_by_another_trimmer_are_counted_exactly(redis_client: redis_lib.Redis, stream: str,
                                                            es_store: ElasticsearchEventStore, es_proxy: TcpProxy,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="worker.indexer")
    events = many_events(3_000)
    indexer = proxied_indexer(redis_client, stream, es_store, es_proxy)
    stop, thread = start_indexer(indexer)

    def old_publisher(batch: list[dict[str, Any]], maxlen: int) -> None:
        pipe = redis_client.pipeline(transaction=False)
        for event in batch:
            pipe.xadd(stream, {"event": orjson.dumps(event)}, maxlen=maxlen, approximate=False)
        pipe.execute()

    try:
        for round_events, maxlen in ((events[:1_500], 300), (events[1_500:], 100)):
            es_proxy.stop()
            retried = indexer.totals["retried"]
            old_publisher(round_events[:400], maxlen=100_000)
            wait_until(lambda r=retried: indexer.totals["retried"] > r, timeout=60)
            before = indexer.totals["lost"]
            old_publisher(round_events[400:], maxlen=maxlen)  # cuts pending and never-read entries
            # counted while Elasticsearch is still down (the retrying consumers read one new entry now and then)
            wait_until(lambda b=before: indexer.totals["lost"] > b, timeout=60)
            es_proxy.start()
            wait_until(lambda: delivered_all(redis_client, stream), timeout=300, interval=0.5)
    finally:
        stop_indexer(stop, thread)
    lost = indexer.totals["lost"]
    assert lost > 0 and stored_once(es_store, events) + lost == len(events)
    assert sum(r.lost for r in caplog.records if getattr(r, "event", None) == "events_lost") == lost
    assert recorded_losses(redis_client, stream) == {"indexer": lost}
