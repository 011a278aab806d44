"""Elasticsearch's CPU per stored event: this tree's index template against another revision's, interleaved.

Both sides bulk-write the same realistic events (the applications of
``benchmarks.payloads`` as scored events, distinct ids) through
``store.index_events`` into an index prefix of their own, in alternating rounds;
the Elasticsearch server's CPU seconds (psutil, the process listening on the URL's
port) are taken over each round and the pause after it (merges and flushes the
round caused), so each side is charged its own work. The server is shared: other
work on it lands on both sides alike, and the medians over the rounds are reported.
Also reported: the indices' size on disk per event after a flush.

Usage:
    .venv/bin/python -m benchmarks.es_writes --before REV [--rounds 5] [--events 10000] [--name NAME]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import psutil

from benchmarks.common import ROOT, log, machine, md_table, median, write_results
from benchmarks.payloads import ensure_payloads
from benchmarks.stack_procs import server_pids
from shared.settings import INDEXER_BATCH_SIZE
from shared.store.elastic import ElasticsearchEventStore
from tests.utils.events import make_event

CLIENT_ID = "SK_ID_CURR"


def realistic_events(n: int) -> list[dict[str, Any]]:
    """``n`` scored events whose features are the payload pool's applications (cycled), distinct ids."""
    apps = [orjson.loads(line) for line in ensure_payloads()["applications"].read_text().splitlines() if line]
    template = make_event()
    events = []
    for i in range(n):
        features = dict(apps[i % len(apps)])
        features.pop(CLIENT_ID, None)
        score = (i * 7919 % 1000) / 1000
        events.append({**template, "event_id": uuid.uuid4().hex, "request_id": uuid.uuid4().hex,
                       "features": features, "score": score,
                       "decision": "refused" if score >= 0.5 else "approved"})
    return events


def template_at(rev: str) -> Any:
    """``events_template`` of ``shared/store/mapping.py`` at git revision ``rev``."""
    source = subprocess.run(["git", "show", f"{rev}:shared/store/mapping.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "mapping_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("mapping_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.events_template


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="git revision whose index template is side A")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=10_000, help="events per side and round")
    parser.add_argument("--batch-size", type=int, default=INDEXER_BATCH_SIZE)
    parser.add_argument("--warmup", type=int, default=2, help="rounds run first and not counted (JIT warm-up)")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds after each round still charged to it")
    parser.add_argument("--name", default="es-writes")
    args = parser.parse_args(argv)
    es_url = os.environ.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200")
    pid = server_pids("redis://none", es_url).get("elasticsearch")
    if pid is None:
        raise SystemExit(f"no Elasticsearch process listening at {es_url} on this machine")
    server = psutil.Process(pid)
    run = uuid.uuid4().hex[:6]
    sides = {"A": ElasticsearchEventStore(es_url, f"bench-esw-{run}-a"),
             "B": ElasticsearchEventStore(es_url, f"bench-esw-{run}-b")}
    old = template_at(args.before)
    for name, store in sides.items():
        store.setup()
        if name == "A":
            store.client.indices.put_index_template(name=f"{store.prefix}-events", **old(store.prefix))
    events = realistic_events(args.events * (args.rounds + args.warmup) * 2)
    rows: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
    try:
        position = 0
        for round_no in range(-args.warmup, args.rounds):
            for name in ("A", "B") if round_no % 2 == 0 else ("B", "A"):
                batch = events[position:position + args.events]
                position += args.events
                cpu0 = sum(server.cpu_times()[:2])
                started = time.perf_counter()
                for k in range(0, len(batch), args.batch_size):
                    result = sides[name].index_events(batch[k:k + args.batch_size])
                    if result.failed or result.retry:
                        raise SystemExit(f"side {name}: not stored: {list(result.failed.items())[:3]}")
                wall = time.perf_counter() - started
                time.sleep(args.settle)
                cpu = sum(server.cpu_times()[:2]) - cpu0
                row = {"es_cpu_us_per_event": round(1e6 * cpu / len(batch), 1),
                       "bulk_events_per_s": round(len(batch) / wall), "loadavg1": round(os.getloadavg()[0], 2)}
                log(f"round {round_no + 1} side {name}{' (warm-up)' if round_no < 0 else ''}: {row}")
                if round_no >= 0:
                    rows[name].append(row)
        sizes = {}
        for name, store in sides.items():
            store.client.indices.flush(index=f"{store.prefix}-events-*")
            stats = store.client.indices.stats(index=f"{store.prefix}-events-*", metric="store,docs")
            total = stats["_all"]["primaries"]
            sizes[name] = round(total["store"]["size_in_bytes"] / max(1, total["docs"]["count"]))
    finally:
        for store in sides.values():
            store.drop_all()
            store.close()
    summary = {name: {"es_cpu_us_per_event": median(r["es_cpu_us_per_event"] for r in rows[name]),
                      "bulk_events_per_s": median(r["bulk_events_per_s"] for r in rows[name]),
                      "bytes_per_event_unmerged": sizes[name]} for name in rows}
    cheaper = sum(b["es_cpu_us_per_event"] < a["es_cpu_us_per_event"] for a, b in zip(rows["A"], rows["B"],
                                                                                      strict=True))
    command = " ".join([".venv/bin/python -m benchmarks.es_writes", *(argv if argv is not None else sys.argv[1:])])
    data = {"machine": machine(), "before": args.before, "events_per_round": args.events, "rounds": args.rounds,
            "batch_size": args.batch_size, "summary": summary, "rounds_detail": rows,
            "b_cheaper_in_rounds": cheaper, "command": command}
    markdown = (f"# Elasticsearch CPU per stored event: index template A/B\n\n`{command}`\n\n"
                f"A: the template of `{args.before}`; B: this tree's. {args.events} events per side and round, "
                f"bulks of {args.batch_size}, {args.rounds} interleaved rounds, each charged with the "
                f"{args.settle:g} s after it, after {args.warmup} warm-up rounds not counted; "
                f"medians. Load average at the end {machine()['loadavg']}.\n\n"
                + md_table(["side", "ES CPU µs per event", "bulk events/s", "bytes per event (flushed, unmerged)"],
                           [[n, s["es_cpu_us_per_event"], s["bulk_events_per_s"], s["bytes_per_event_unmerged"]]
                            for n, s in summary.items()])
                + f"\nB cheaper in {cheaper} of {args.rounds} rounds.\n")
    write_results(args.name, data, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
