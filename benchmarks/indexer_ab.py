"""The indexer's CPU per event: this tree's ``worker/`` and ``shared/`` against another revision's, interleaved.

Each round runs one child process per side. The child puts ``--events`` realistic
events (the applications of ``benchmarks.payloads``, distinct ids) on a stream of
its own, then one Indexer consumer (``run_once`` in a loop, as each consumer thread
of ``python -m worker indexer`` does) moves them into Elasticsearch under an index
prefix of its own; the child's CPU time over that phase alone is the indexer's, and
the Elasticsearch server's CPU seconds over it are reported beside it. Sides
alternate in order round by round; medians are reported.

``--redis-parser python`` makes both sides read Redis replies with redis-py's own
parser even when hiredis is installed (to compare the parsers, run the same tree on
both sides: ``--before WORKTREE``).

Usage:
    .venv/bin/python -m benchmarks.indexer_ab --before REV [--rounds 5] [--events 20000] [--name NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, VENV_PY, checkout, log, machine, md_table, median, write_results

WORKTREE = "WORKTREE"


def _steady(redis: Any, store: Any, stream: str, docs: list[bytes], rate: int) -> tuple[float, float]:
    """``docs`` added to the stream at ``rate`` per second while ``python -m worker indexer``'s loop (two
    consumers, its default settings) stores them; returns the indexer threads' CPU seconds and the wall time."""
    import threading

    import psutil

    from worker.indexer import Indexer

    indexer = Indexer(redis, store, stream, consumer="bench", threads=2)
    stop, producer_tid = threading.Event(), []

    def produce() -> None:
        producer_tid.append(threading.get_native_id())
        step, started = max(1, rate // 100), time.perf_counter()
        for k in range(0, len(docs), step):
            pipe = redis.pipeline(transaction=False)
            for doc in docs[k:k + step]:
                pipe.xadd(stream, {"event": doc})
            pipe.execute()
            time.sleep(max(0.0, started + (k + step) / rate - time.perf_counter()))

    me = psutil.Process()
    main_tid = threading.get_native_id()
    cpu0 = {t.id: t.user_time + t.system_time for t in me.threads()}
    wall0 = time.perf_counter()
    runner = threading.Thread(target=indexer.run_forever, args=(stop,))
    producer = threading.Thread(target=produce)
    runner.start()
    producer.start()
    producer.join()
    while indexer.totals["indexed"] + indexer.totals["dead"] < len(docs) and runner.is_alive():
        time.sleep(0.02)
    wall = time.perf_counter() - wall0
    cpu1 = {t.id: t.user_time + t.system_time for t in me.threads()}
    stop.set()
    runner.join()
    assert indexer.totals["indexed"] == len(docs) and not indexer.totals["dead"], indexer.totals
    skip = {main_tid, *producer_tid}
    return sum(v - cpu0.get(tid, 0.0) for tid, v in cpu1.items() if tid not in skip), wall


def child(source: str, events: int, parser: str, rate: int = 0) -> dict[str, Any]:
    """One side's run (in its own process, ``source`` first on sys.path): figures as a dict."""
    if source != WORKTREE:
        sys.path.insert(0, source)
    import orjson
    import psutil
    from redis import Redis

    from benchmarks.es_writes import realistic_events
    from benchmarks.stack_procs import server_pids
    from shared.store.elastic import ElasticsearchEventStore
    from worker.indexer import Indexer

    es_url = os.environ.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    options: dict[str, Any] = {}
    if parser == "python":
        from redis._parsers import _RESP3Parser  # redis-py 8 speaks RESP3 by default

        options["parser_class"] = _RESP3Parser
    redis = Redis.from_url(redis_url, **options)
    es_pid = server_pids(redis_url, es_url).get("elasticsearch")
    server = psutil.Process(es_pid) if es_pid else None
    run = uuid.uuid4().hex[:8]
    store = ElasticsearchEventStore(es_url, f"bench-idx-{run}")
    stream = f"bench-idx:{run}"
    try:
        store.setup()
        docs = [orjson.dumps(doc) for doc in realistic_events(events)]
        if not rate:
            for k in range(0, len(docs), 2000):
                pipe = redis.pipeline(transaction=False)
                for doc in docs[k:k + 2000]:
                    pipe.xadd(stream, {"event": doc})
                pipe.execute()
        es0 = sum(server.cpu_times()[:2]) if server else 0.0
        if rate:
            cpu, wall = _steady(redis, store, stream, docs, rate)
        else:
            indexer = Indexer(redis, store, stream, consumer="bench", block_ms=200, threads=1)
            indexer.ensure_group()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            while indexer.totals["indexed"] + indexer.totals["dead"] < events:
                indexer.run_once()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            assert indexer.totals["indexed"] == events and not indexer.totals["dead"], indexer.totals
        es = (sum(server.cpu_times()[:2]) - es0) if server else float("nan")
        return {"indexer_cpu_us_per_event": round(1e6 * cpu / events, 1),
                "es_cpu_us_per_event": round(1e6 * es / events, 1),
                "events_per_s": round(events / wall), "loadavg1": round(os.getloadavg()[0], 2)}
    finally:
        redis.delete(stream)
        store.drop_all()
        store.close()


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help=f"git revision of side A (or {WORKTREE}: this tree)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=20_000, help="events per side and round")
    parser.add_argument("--redis-parser", choices=("default", "python"), default="default",
                        help="side A's Redis reply parser (side B always uses the default)")
    parser.add_argument("--rate", type=int, default=0,
                        help="events/s added while the indexer's own loop (2 consumers) runs (default: a full "
                             "stream drained by one consumer)")
    parser.add_argument("--name", default="indexer-ab")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args.events, args.redis_parser, args.rate)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        before = WORKTREE if args.before == WORKTREE else str(checkout(args.before, Path(tmp), "worker", "shared"))
        sources = {"A": before, "B": WORKTREE}
        rows: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
        for round_no in range(args.rounds):
            for side in ("A", "B") if round_no % 2 == 0 else ("B", "A"):
                argv_child = [str(VENV_PY), "-m", "benchmarks.indexer_ab", "--before", args.before, "--child",
                              sources[side], "--events", str(args.events),
                              "--redis-parser", args.redis_parser if side == "A" else "default",
                              "--rate", str(args.rate)]
                done = subprocess.run(argv_child, cwd=ROOT, capture_output=True, text=True, timeout=600)
                line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
                if done.returncode != 0 or line is None:
                    raise SystemExit(f"side {side} failed: {done.stderr[-2000:]}")
                rows[side].append(json.loads(line[len("RESULT "):]))
                log(f"round {round_no + 1} side {side}: {rows[side][-1]}")
    keys = ("indexer_cpu_us_per_event", "es_cpu_us_per_event", "events_per_s")
    summary = {side: {k: median(r[k] for r in rows[side]) for k in keys} for side in rows}
    cheaper = sum(b["indexer_cpu_us_per_event"] < a["indexer_cpu_us_per_event"]
                  for a, b in zip(rows["A"], rows["B"], strict=True))
    command = " ".join([".venv/bin/python -m benchmarks.indexer_ab", *(argv if argv is not None else sys.argv[1:])])
    data = {"machine": machine(), "before": args.before, "redis_parser_a": args.redis_parser,
            "events_per_round": args.events, "rounds": args.rounds, "summary": summary, "rounds_detail": rows,
            "b_cheaper_in_rounds": cheaper, "command": command}
    markdown = (f"# The indexer's CPU per event: A/B\n\n`{command}`\n\n"
                f"A: `worker/` and `shared/` of `{args.before}` (Redis parser: {args.redis_parser}); B: this tree's. "
                f"{args.events} realistic events per side and round, "
                + (f"added at {args.rate}/s while the indexer's loop (2 consumers, its defaults) runs"
                   if args.rate else "one consumer draining a full stream")
                + f", {args.rounds} interleaved rounds; medians. Load average at the end {machine()['loadavg']}.\n\n"
                + md_table(["side", "indexer CPU µs per event", "Elasticsearch CPU µs per event", "events/s"],
                           [[s, v["indexer_cpu_us_per_event"], v["es_cpu_us_per_event"], v["events_per_s"]]
                            for s, v in summary.items()])
                + f"\nB cheaper (indexer CPU) in {cheaper} of {args.rounds} rounds.\n")
    write_results(args.name, data, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
