"""Outcome ingestion rate and the performance command's duration, on SQLite and on Elasticsearch.

Ingestion: ``--events`` scored applications (120-feature events, as production
stores them) are indexed first; then their outcomes are sent through the
transport-free service (``OutcomeService.ingest``, what ``POST /v1/outcomes``
runs) in requests of ``--batch`` items by ``event_id``, and once more as
re-sends (all "unchanged"). The rate is items per second of the ``ingest``
calls (validation, look-up of the events, the idempotent write).

Command: ``python -m monitoring performance --last N --json`` run as a
subprocess (imports included) over ``--command-events`` scored applications,
each with its outcome; wall time per run, ``--repeats`` runs.

Elasticsearch is used on a throw-away index prefix (dropped after) when it
answers at ``ELASTICSEARCH_URL`` (default 127.0.0.1:9200).

Usage:
    .venv/bin/python -m benchmarks.outcomes [--events 50000] [--command-events 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, VENV_PY, command_line, log, machine, md_table, median, write_results
from shared.outcomes import OutcomeService
from shared.store.base import EventStore
from tests.utils.outcomes import KEY, population

TARGET_ITEMS_PER_S = 5_000
TARGET_COMMAND_S = 10.0
INDEX_BATCH = 5_000


def _es_url() -> str | None:
    import urllib.request

    url = os.environ.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200")
    try:
        with urllib.request.urlopen(f"{url}/_cluster/health", timeout=5) as response:
            return url if response.status == 200 else None
    except OSError:
        return None


def _store(kind: str, folder: Path, prefix: str, es_url: str | None) -> EventStore:
    if kind == "sqlite":
        from shared.store.sqlite import SQLiteEventStore

        store: EventStore = SQLiteEventStore(folder / "bench.sqlite3")
    else:
        from shared.store.elastic import ElasticsearchEventStore

        assert es_url
        store = ElasticsearchEventStore(es_url, prefix)
        store.drop_all()  # type: ignore[attr-defined]
    store.setup()
    return store


def _index(store: EventStore, events: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for start in range(0, len(events), INDEX_BATCH):
        result = store.index_events(events[start:start + INDEX_BATCH])
        if result.failed or result.retry:
            raise SystemExit(f"indexing failed: {list(result.failed.items())[:2]} {list(result.retry.items())[:2]}")
    store.refresh()
    return time.perf_counter() - started


def ingestion(store: EventStore, n: int, batch: int, seed: int) -> dict[str, Any]:
    """Send ``n`` outcomes twice (new, then re-sent) in requests of ``batch``; items/s of each pass."""
    people = population(n, seed=seed, start=datetime.now(UTC) - timedelta(days=2), full_features=True)
    index_s = _index(store, people.events)
    service = OutcomeService(store, KEY)
    items = people.outcome_items()
    passes = {}
    for name, expected in (("new", "accepted"), ("resent", "unchanged")):
        started, cpu = time.perf_counter(), time.process_time()
        counted = 0
        for start in range(0, len(items), batch):
            answer = service.ingest({"outcomes": items[start:start + batch]})
            if answer.errors:
                raise SystemExit(f"ingestion errors: {answer.errors[:3]}")
            counted += getattr(answer, expected)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        if counted != n:
            raise SystemExit(f"{name}: {counted} {expected}, expected {n}")
        # CPU of this process only: all of the work with SQLite, the client's share with Elasticsearch
        passes[name] = {"seconds": round(seconds, 3), "items_per_s": round(n / seconds, 1),
                        "process_cpu_s": round(cpu, 3), "load1": round(os.getloadavg()[0], 2)}
        log(f"  {name}: {n:,} outcomes in {seconds:.2f} s = {n / seconds:,.0f} items/s (process CPU {cpu:.2f} s)")
    return {"events": n, "batch": batch, "index_events_s": round(index_s, 2), **passes}


def command(store: EventStore, kind: str, folder: Path, prefix: str, es_url: str | None, n: int, repeats: int,
            seed: int) -> dict[str, Any]:
    """Time ``python -m monitoring performance --last n --json`` over ``n`` applications with outcomes."""
    people = population(n, seed=seed, start=datetime.now(UTC) - timedelta(days=1), full_features=True,
                        versions=("model-1", "model-2"))
    index_s = _index(store, people.events)
    service = OutcomeService(store, KEY)
    items = people.outcome_items()
    for start in range(0, n, 10_000):
        service.ingest({"outcomes": items[start:start + 10_000]})
    store.refresh()
    env = {**os.environ, "MODEL_DIR": str(ROOT / "models" / "default"), "LOG_LEVEL": "WARNING"}
    if kind == "sqlite":
        env.pop("ELASTICSEARCH_URL", None)
        env["SQLITE_PATH"] = str(folder / "bench.sqlite3")
    else:
        env.update(ELASTICSEARCH_URL=es_url or "", ES_INDEX_PREFIX=prefix)
    runs = []
    for repeat in range(repeats):
        load = os.getloadavg()[0]
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run([str(VENV_PY), "-m", "monitoring", "performance", "--last", str(n), "--json",
                               "--no-save"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"command failed: {done.stderr[-2000:]}")
        import orjson

        report = orjson.loads(done.stdout)
        if report["n_scored"] != n or report["n_outcomes"] != n:
            raise SystemExit(f"command saw {report['n_scored']} scored, {report['n_outcomes']} outcomes")
        runs.append({"seconds": round(seconds, 2), "process_cpu_s": round(cpu, 2),
                     "in_process_s": round(report["duration_s"], 2),
                     "read_s": round(report["timings"]["read_s"], 2), "load1_before": round(load, 2)})
        log(f"  [{repeat + 1}/{repeats}] {seconds:.2f} s wall, {cpu:.2f} s CPU (run {report['duration_s']:.2f} s, "
            f"read {report['timings']['read_s']:.2f} s), load {load:.1f}")
    return {"events": n, "index_events_s": round(index_s, 2), "runs": runs,
            "median_s": median(r["seconds"] for r in runs), "median_cpu_s": median(r["process_cpu_s"] for r in runs)}


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000, help="outcomes sent in the ingestion test")
    parser.add_argument("--batch", type=int, default=10_000, help="items per request")
    parser.add_argument("--command-events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stores", default="sqlite,elasticsearch")
    args = parser.parse_args(argv)
    es_url = _es_url()
    results: dict[str, Any] = {"command": command_line(), "machine_before": machine(), "stores": {}}
    for kind in args.stores.split(","):
        if kind == "elasticsearch" and es_url is None:
            log("no Elasticsearch answers: skipped")
            continue
        folder = Path(tempfile.mkdtemp(prefix="bench-outcomes-", dir=ROOT / "var" if (ROOT / "var").is_dir()
                                       else None))
        entry: dict[str, Any] = {}
        for step in ("ingestion", "command"):
            prefix = f"bench-outcomes-{uuid.uuid4().hex[:8]}"
            store = _store(kind, _fresh(folder / step), prefix, es_url)
            try:
                log(f"{kind}: {step}")
                entry[step] = (ingestion(store, args.events, args.batch, seed=11) if step == "ingestion" else
                               command(store, kind, folder / step, prefix, es_url, args.command_events,
                                       args.repeats, seed=12))
            finally:
                if kind == "elasticsearch":
                    store.drop_all()  # type: ignore[attr-defined]
                store.close()
        shutil.rmtree(folder, ignore_errors=True)
        results["stores"][kind] = entry
    results["machine_after"] = machine()
    rows = []
    for kind, entry in results["stores"].items():
        ing, cmd = entry["ingestion"], entry["command"]
        rows.append([kind, f"{ing['new']['items_per_s']:,.0f} (CPU {ing['new']['process_cpu_s']:.2f} s, "
                           f"load {ing['new']['load1']})",
                     f"{ing['resent']['items_per_s']:,.0f} (CPU {ing['resent']['process_cpu_s']:.2f} s)",
                     f"{cmd['median_s']:.2f} (CPU {cmd['median_cpu_s']:.2f})",
                     ", ".join(f"{r['seconds']:.2f}" for r in cmd["runs"]),
                     ", ".join(str(r["load1_before"]) for r in cmd["runs"])])
    before, after = results["machine_before"]["loadavg"], results["machine_after"]["loadavg"]
    markdown = (
        "# Outcome ingestion and the performance command\n\n"
        f"`{results['command']}` on {results['machine_before']['cpus']} CPUs "
        f"({results['machine_before']['cpu_model']}), load average {before} before and {after} after "
        "(a shared machine: other work ran at the same time).\n\n"
        f"Ingestion: {args.events:,} outcomes by `event_id` in requests of {args.batch:,} items through "
        "`OutcomeService.ingest` (validation, event look-up, idempotent write), then the same again as re-sends; "
        "the CPU seconds are this process's (all the work with SQLite; with Elasticsearch the server's is apart). "
        f"Target: at least {TARGET_ITEMS_PER_S:,} items/s.\n\n"
        f"Command: `python -m monitoring performance --last {args.command_events} --json --no-save` as a "
        f"subprocess over {args.command_events:,} scored applications (120-feature events, two model versions), "
        f"each with its outcome; wall time including start-up, and the command process's CPU time (with "
        "Elasticsearch, the server's CPU is apart). "
        f"Target: at most {TARGET_COMMAND_S:.0f} s.\n\n"
        + md_table(["store", "ingestion, new (items/s)", "ingestion, re-sent (items/s)", "command median (s)",
                    "command runs (s)", "load before each run"], rows)
    )
    write_results("outcomes", results, markdown)
    return 0


def _fresh(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


if __name__ == "__main__":
    raise SystemExit(main())
