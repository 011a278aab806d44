"""Disk per stored event in Elasticsearch: what the capacity model's storage rows are built on.

Indexes ``--events`` distinct events (each a real synthetic application with its
120 features, scored by the bundle) into a throw-away index prefix of the
Elasticsearch at ``ELASTICSEARCH_URL`` (default :9200), through the store's own
bulk path and mapping; refreshes, force-merges to one segment (what a daily
index becomes once it stops receiving events), and divides the primary store
size by the document count. The prefix is deleted at the end.

Usage:
    .venv/bin/python -m benchmarks.event_size [--events 20000]

Writes ``docs/results/event-size.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import os
import uuid
from datetime import UTC, datetime, timedelta

import orjson

from benchmarks.common import bundle_dir, bundle_info, command_line, log, machine, md_table, write_results


def build_events(n: int) -> list[dict]:
    """``n`` events of distinct synthetic applications scored by the bundle, one second apart (today)."""
    from shared.columns import CLIENT_ID
    from shared.event import ScoringEvent, Timings, new_id, pseudonymise
    from shared.scorer import Scorer
    from training.synthetic import generate_applications

    scorer = Scorer.load(bundle_dir())
    applications = generate_applications(n, seed=23)
    results = scorer.score_batch([{k: v for k, v in app.items() if k != CLIENT_ID} for app in applications])
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    events = []
    for i, (app, result) in enumerate(zip(applications, results, strict=True)):
        features = {k: v for k, v in app.items() if k != CLIENT_ID}
        event = ScoringEvent(path="sync", status="ok", model_version=result.model_version, request_id=new_id(),
                             client_ref=pseudonymise(app[CLIENT_ID], "event-size-key"), features=features,
                             score=result.probability, decision=result.decision, threshold=result.threshold,
                             timings=Timings(validation_ms=0.03, inference_ms=0.04, total_ms=1.0))
        moment = start + timedelta(seconds=i % 80_000)
        event.timestamp = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        events.append(event.to_dict())
    return events


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args(argv)
    from shared.store.elastic import ElasticsearchEventStore

    store = ElasticsearchEventStore(os.environ.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200"),
                                    f"eventsize{uuid.uuid4().hex[:8]}")
    try:
        store.setup()
        events = build_events(args.events)
        log(f"indexing {len(events):,} events into {store.events_pattern}")
        for start in range(0, len(events), 1000):
            store.index_events(events[start:start + 1000])
        client = store.client
        client.indices.refresh(index=store.events_pattern)
        client.indices.forcemerge(index=store.events_pattern, max_num_segments=1)
        client.indices.refresh(index=store.events_pattern)
        stats = client.indices.stats(index=store.events_pattern, metric=["docs", "store"])["_all"]["primaries"]
        docs, size = stats["docs"]["count"], stats["store"]["size_in_bytes"]
        json_bytes = sum(len(orjson.dumps(e)) for e in events) / len(events)
    finally:
        store.drop_all()
        store.close()
    data = {"command": command_line(), "bundle": bundle_info(), "machine": machine(), "events": docs,
            "primary_store_bytes": size, "bytes_per_event": round(size / docs, 1),
            "json_bytes_per_event": round(json_bytes, 1)}
    markdown = ("# Disk per stored event\n\n"
                f"`{data['command']}`, {docs:,} events, one primary shard force-merged to one segment; "
                f"load average {data['machine']['loadavg']}.\n\n"
                + md_table(["events", "primary store bytes", "bytes per event (on disk)", "JSON bytes per event"],
                           [[docs, size, data["bytes_per_event"], data["json_bytes_per_event"]]])
                + "\nOn disk per copy: multiply by (1 + replicas) for the cluster.\n")
    write_results("event-size", data, markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
