"""Outages under load, with the real Redis and Elasticsearch: every event indexed exactly once.

The shared servers stay up for the other tests: each outage is made by
cutting a TCP proxy (tests/utils/tcp_proxy.py) that the side under test talks
through, then restoring it.

1. Elasticsearch down while 20,000 events are published: the indexer keeps
   the entries pending, retries, and ends with all of them stored once.
2. Redis down on the publishing side: the publisher spools to disk and
   forwards in order once Redis is back; all events end up stored once.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson
import pytest
import redis as redis_lib

from shared.publisher import EventPublisher
from shared.store.elastic import ElasticsearchEventStore
from tests.utils.events import many_events
from tests.utils.servers import require_elasticsearch, require_redis
from tests.utils.tcp_proxy import TcpProxy, redis_through
from tests.utils.waiting import wait_until
from worker.indexer import Indexer

pytestmark = pytest.mark.integration


def run_indexer(indexer: Indexer) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=indexer.run_forever, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def stored_exactly_once(store: ElasticsearchEventStore, events: list[dict[str, Any]]) -> None:
    """Every event is in the index, once: the count matches and each id is found."""
    store.refresh()
    ids = [e["event_id"] for e in events]
    assert store.count_events() == len(events)
    found = 0
    for k in range(0, len(ids), 5_000):
        response = store.client.count(index=store.events_pattern, query={"ids": {"values": ids[k:k + 5_000]}})
        found += response["count"]
    assert found == len(events)


def test_elasticsearch_outage_loses_and_duplicates_nothing(redis_client: redis_lib.Redis, stream: str,
                                                           es_store: ElasticsearchEventStore,
                                                           tmp_path: Path) -> None:
    n = 20_000
    events = many_events(n)
    es_url = urlparse(require_elasticsearch())
    with TcpProxy(es_url.port or 9200, es_url.hostname or "127.0.0.1") as proxy:
        proxied = ElasticsearchEventStore(f"http://{proxy.url_host}", es_store.prefix)
        proxied.client = proxied.client.options(request_timeout=5, max_retries=0)
        indexer = Indexer(redis_client, proxied, stream, consumer="outage", batch_size=1000, block_ms=200,
                          max_backoff_s=1.0)
        stop, thread = run_indexer(indexer)
        publisher = EventPublisher(redis_client, stream, spool_dir=tmp_path / "spool")
        try:
            for event in events[: n // 4]:
                publisher.publish(event)
            wait_until(lambda: indexer.totals["indexed"] > 0, timeout=120)
            proxy.stop()  # Elasticsearch "goes down" for the indexer
            for event in events[n // 4:]:
                publisher.publish(event)
            assert publisher.flush(60)
            wait_until(lambda: indexer.totals["retried"] > 0, timeout=60)
            time.sleep(2)  # a few failed retries while down
            pending = redis_client.xpending(stream, "indexer")["pending"]
            assert pending > 0  # the batches that failed are kept, not acknowledged
            proxy.start()  # back
            wait_until(lambda: redis_client.xpending(stream, "indexer")["pending"] == 0
                       and indexer.totals["indexed"] >= n, timeout=300, interval=0.5)
        finally:
            stop.set()
            thread.join(30)
            publisher.close()
    stats = publisher.stats()
    assert stats["dropped"] == 0 and stats["published"] == n
    assert redis_client.xlen(f"{stream}:dead") == 0
    stored_exactly_once(es_store, events)


def test_redis_outage_on_the_publishing_side_spools_then_forwards(redis_client: redis_lib.Redis, stream: str,
                                                                  es_store: ElasticsearchEventStore,
                                                                  tmp_path: Path) -> None:
    n = 6_000
    events = many_events(n)
    redis_url = urlparse(require_redis())
    # a second consumer group that reads nothing: the indexer trims only what every group has
    # acknowledged, so the stream keeps every entry and the order can be read back at the end
    redis_client.xgroup_create(stream, "order-check", id="0", mkstream=True)
    indexer = Indexer(redis_client, es_store, stream, consumer="spool-test", batch_size=1000, block_ms=200)
    stop, thread = run_indexer(indexer)
    with TcpProxy(redis_url.port or 6379, redis_url.hostname or "127.0.0.1") as proxy:
        through_proxy = redis_through(proxy, require_redis())
        publisher = EventPublisher(through_proxy, stream, spool_dir=tmp_path / "spool", retry_interval_s=0.2)
        try:
            for event in events[: n // 3]:
                publisher.publish(event)
            assert publisher.flush(60)
            proxy.stop()  # Redis "goes down" for the publisher
            for event in events[n // 3:]:
                publisher.publish(event)
            assert publisher.flush(60)
            down = publisher.stats()
            assert down["spooled"] > 0 and not down["redis_ok"] and down["dropped"] == 0
            proxy.start()  # back
            wait_until(lambda: publisher.stats()["spooled"] == 0 and publisher.stats()["redis_ok"], timeout=120)
            wait_until(lambda: indexer.totals["indexed"] >= n, timeout=300, interval=0.5)
        finally:
            publisher.close()
            stop.set()
            thread.join(30)
    stats = publisher.stats()
    assert stats["dropped"] == 0 and stats["published"] >= n
    # forwarded in order (a batch cut half-way is sent again, so only first occurrences count)
    ids = [orjson.loads(fields[b"event"])["event_id"] for _, fields in redis_client.xrange(stream)]
    assert list(dict.fromkeys(ids)) == [e["event_id"] for e in events]
    stored_exactly_once(es_store, events)
