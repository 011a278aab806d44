"""Benchmark of the event storage path against the real servers of `make services`.

Measures, on a throw-away index prefix (deleted at the end):

1. bulk: ``store.index_events`` alone, events/s into Elasticsearch;
2. indexer: events put on a Redis Stream, then moved by the Indexer (XREADGROUP,
   bulk, XACK) until the stream is drained, events/s end to end;
3. sample: ``sample_applications(limit=N)`` (PIT + search_after), seconds.

Usage:
    .venv/bin/python scripts/bench_indexing.py [--events 50000] [--batch-size 1000] [--threads 2]

Prints one JSON object with the figures, the machine's core count and its load
average before and after (other work on the machine skews the rates).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from pathlib import Path

import orjson
from redis import Redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.store.elastic import ElasticsearchEventStore  # noqa: E402
from tests.utils.events import many_events as make_events  # noqa: E402
from worker.indexer import Indexer  # noqa: E402


def bench_bulk(store: ElasticsearchEventStore, events: list[dict], batch: int) -> float:
    started = time.perf_counter()
    for k in range(0, len(events), batch):
        result = store.index_events(events[k:k + batch])
        assert not result.failed and not result.retry, (result.failed, result.retry)
    return len(events) / (time.perf_counter() - started)


def bench_indexer(redis: Redis, store: ElasticsearchEventStore, events: list[dict], batch: int,
                  threads: int) -> float:
    stream = f"bench:{uuid.uuid4().hex[:8]}"
    for k in range(0, len(events), 2000):
        pipe = redis.pipeline(transaction=False)
        for event in events[k:k + 2000]:
            pipe.xadd(stream, {"event": orjson.dumps(event)})
        pipe.execute()
    indexer = Indexer(redis, store, stream, consumer="bench", batch_size=batch, block_ms=200, threads=threads)
    stop = threading.Event()
    runner = threading.Thread(target=indexer.run_forever, args=(stop,))
    started = time.perf_counter()
    runner.start()
    while indexer.totals["indexed"] + indexer.totals["dead"] < len(events) and runner.is_alive():
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    stop.set()
    runner.join()
    assert indexer.totals["indexed"] == len(events), f"only {indexer.totals} of {len(events)} entries stored"
    redis.delete(stream)
    return len(events) / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2, help="indexer consumers (threads) in phase 2")
    parser.add_argument("--sample", type=int, default=100_000, help="sample size of phase 3")
    args = parser.parse_args()
    es_url = os.environ.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200")
    redis = Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    store = ElasticsearchEventStore(es_url, f"bench-{uuid.uuid4().hex[:8]}")
    store.setup()
    figures: dict[str, object] = {"events": args.events, "batch_size": args.batch_size, "cpus": os.cpu_count(),
                                  "load_1m_before": round(os.getloadavg()[0], 1)}
    try:
        print(f"phase 1: bulk of {args.events} events ...", file=sys.stderr)
        figures["bulk_events_per_s"] = round(bench_bulk(store, make_events(args.events), args.batch_size))
        print(f"phase 2: indexer with {args.threads} consumer(s) ...", file=sys.stderr)
        figures["indexer_threads"] = args.threads
        figures["indexer_events_per_s"] = round(bench_indexer(redis, store, make_events(args.events),
                                                              args.batch_size, args.threads))
        store.refresh()
        stored = store.count_events()
        figures["stored"] = stored
        if stored < args.sample:
            print(f"phase 3: topping up to {args.sample} events for the sample ...", file=sys.stderr)
            bench_bulk(store, make_events(args.sample - stored), args.batch_size)
            store.refresh()
        print(f"phase 3: sample_applications(limit={args.sample}) ...", file=sys.stderr)
        started = time.perf_counter()
        sample = store.sample_applications(limit=args.sample)
        figures["sample_rows"] = len(sample)
        figures["sample_s"] = round(time.perf_counter() - started, 2)
    finally:
        store.drop_all()
        store.close()
    figures["load_1m_after"] = round(os.getloadavg()[0], 1)  # the machine is shared: other work skews the rates
    print(orjson.dumps(figures).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
