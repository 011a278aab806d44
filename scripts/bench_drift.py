"""Time one drift run over 100,000 stored events (goal: at most 10 s and 1 GB): the whole command.

Fills a store (SQLite by default; Elasticsearch when ELASTICSEARCH_URL is set, on
its own index prefix) with N events of synthetic applications scored by the real
bundle, then times ``python -m monitoring drift --last N`` -- the whole command,
start-up, reference, sample, tests and HTML report included -- as a child process
(wall time, and peak resident memory from ``getrusage(RUSAGE_CHILDREN)``).

``--before REV`` runs the same command from ``git archive REV`` too, interleaved
with the work tree's, on the same stored events (an A/B in one run).
``--prefix P --keep`` fills once and keeps the indices; a later ``--prefix P
--reuse`` times against them without filling again. ``--fit-first`` deletes the kept
drift fit before each variant's first run, so that run fits (as a first run on a new
bundle does) and the next ones read the fit back. On Elasticsearch the server's own
CPU time during each run is read from its node statistics (the server is shared: its
figure includes whatever else asked it for work meanwhile). Results go to
``docs/results/<name>.json`` and ``.md``.

    .venv/bin/python scripts/bench_drift.py [--events 100000] [--repeat 3] [--before HEAD~1] [--name drift]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DO_NOT_TRACK", "1")
RESULTS = ROOT / "docs" / "results"


def _fill(store: Any, n: int, model_dir: Path, batch: int = 5000) -> None:
    from sim_events import scored_events

    from shared.scorer import Scorer
    from training.synthetic import generate_applications

    scorer = Scorer.load(model_dir)
    end = datetime.now(UTC)
    done = 0
    while done < n:
        size = min(batch, n - done)
        apps = generate_applications(size, seed=1000 + done)
        times = [end - timedelta(seconds=(n - done - i) * 0.5) for i in range(size)]
        result = store.index_events(scored_events(apps, times, scorer, seed=done))
        if result.failed:
            raise SystemExit(f"indexing failed: {list(result.failed.items())[:3]}")
        done += size
        print(f"  stored {done:,}/{n:,} events", flush=True)


def _checkout(revision: str, into: Path) -> Path:
    """The packages of ``revision``, extracted with ``git archive`` (the work tree is untouched)."""
    archive = into / "src.tar"
    subprocess.run(["git", "archive", "-o", str(archive), revision, "shared", "monitoring", "training"],
                   cwd=ROOT, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "src", filter="data")
    return into / "src"


def _server_cpu_ms(store: Any) -> int | None:
    """The Elasticsearch nodes' total process CPU time in ms (None for another store)."""
    client = getattr(store, "client", None)
    if client is None:
        return None
    stats = client.nodes.stats(metric="process", filter_path="nodes.*.process.cpu.total_in_millis").body
    return sum(int(node["process"]["cpu"]["total_in_millis"]) for node in stats.get("nodes", {}).values())


def time_command(cwd: Path, env: dict[str, str], events: int, store: Any = None) -> dict[str, Any]:
    """Run ``python -m monitoring drift --last N --json`` once; wall s, CPU s, peak RSS MB, the server's CPU s
    (Elasticsearch) and the summary."""
    script = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "wall = time.perf_counter() - t\n"
        "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "peak, cpu = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime\n"
        "print(json.dumps({'wall_s': wall, 'peak_mb': peak, 'cpu_s': cpu, 'rc': p.returncode,"
        " 'stdout': p.stdout.decode(), 'stderr': p.stderr.decode()[-4000:]}))\n"
    )
    argv = [sys.executable, "-c", script, sys.executable, "-m", "monitoring", "drift", "--last", str(events), "--json"]
    load = os.getloadavg()[0]
    server_before = _server_cpu_ms(store)
    out = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=True)
    server_after = _server_cpu_ms(store)
    run = json.loads(out.stdout)
    if run["rc"] != 0:
        raise SystemExit(f"drift command failed ({run['rc']}): {run['stderr']}")
    summary = json.loads(run["stdout"].strip().splitlines()[-1])
    server = None if server_before is None or server_after is None else round((server_after - server_before) / 1000, 2)
    return {"wall_s": round(run["wall_s"], 2), "peak_mb": round(run["peak_mb"]), "cpu_s": round(run["cpu_s"], 2),
            "server_cpu_s": server, "loadavg1_before": round(load, 2),
            "loadavg1_after": round(os.getloadavg()[0], 2), "summary": summary}


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """How two summaries differ: same checks and verdicts, and the largest relative difference of a value."""
    def checks(s: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
        return {(f["name"], f["test"]): f for f in [*s["features"], *([s["score"]] if s.get("score") else [])]}

    ca, cb = checks(a), checks(b)
    worst, where = 0.0, None
    for key in ca.keys() & cb.keys():
        for field in ("value", "threshold", "reference_value", "current_value"):
            x, y = ca[key].get(field), cb[key].get(field)
            if isinstance(x, (int, float)) and isinstance(y, (int, float)) and x != y:
                rel = abs(x - y) / max(abs(x), abs(y))
                if rel > worst:
                    worst, where = rel, f"{key[0]} {key[1]} {field}"
    return {"same_checks": ca.keys() == cb.keys(),
            "same_verdicts": all(ca[k]["drifted"] == cb[k]["drifted"] for k in ca.keys() & cb.keys())
            and a["share_drifted"] == b["share_drifted"] and a["n_current"] == b["n_current"],
            "max_relative_difference": worst, "where": where}


def main() -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per variant")
    parser.add_argument("--before", help="git revision to time too, interleaved (A = before, B = work tree)")
    parser.add_argument("--prefix", help="index prefix / SQLite tag (default: a random one)")
    parser.add_argument("--reuse", action="store_true", help="the store is already filled: do not fill")
    parser.add_argument("--keep", action="store_true", help="keep the store afterwards")
    parser.add_argument("--name", default="drift", help="docs/results/<name>.json|md")
    parser.add_argument("--fit-first", action="store_true",
                        help="delete the kept drift fit before each variant's first run (that run fits)")
    args = parser.parse_args()

    from monitoring.settings import MonitoringSettings
    from shared.store.factory import describe, make_store

    tag = args.prefix or f"bench-{uuid.uuid4().hex[:8]}"
    sqlite_path = ROOT / f"var/bench-drift-{tag}.sqlite3"
    reports = ROOT / "var/reports/bench"
    settings = MonitoringSettings(sqlite_path=sqlite_path, es_index_prefix=tag, reports_dir=reports)
    store = make_store(settings)
    store.setup()
    env = {**os.environ, "ES_INDEX_PREFIX": tag, "SQLITE_PATH": str(sqlite_path), "REPORTS_DIR": str(reports),
           "MODEL_DIR": str(Path(settings.model_dir).resolve()), "LOG_LEVEL": "WARNING"}
    kind = describe(store).split()[0]
    try:
        if not args.reuse:
            print(f"store: {describe(store)}; filling {args.events:,} events ...", flush=True)
            t = time.perf_counter()
            _fill(store, args.events, settings.model_dir)
            store.refresh() if hasattr(store, "refresh") else None
            print(f"filled in {time.perf_counter() - t:.1f} s", flush=True)
        with tempfile.TemporaryDirectory(prefix="drift-ab-") as tmp:
            variants: dict[str, tuple[Path, dict[str, str]]] = {}
            if args.before:
                source = _checkout(args.before, Path(tmp))
                variants["A"] = (source, {**env, "PYTHONPATH": str(source), "REPORTS_DIR": str(reports / "A")})
            variants["B"] = (ROOT, {**env, "REPORTS_DIR": str(reports / "B")})  # each variant keeps its own fit
            runs: dict[str, list[dict[str, Any]]] = {label: [] for label in variants}
            for i in range(args.repeat):
                for label, (cwd, variant_env) in variants.items():
                    fits = args.fit_first and i == 0
                    if fits:
                        shutil.rmtree(Path(variant_env["REPORTS_DIR"]) / ".drift-fit", ignore_errors=True)
                    run = {**time_command(cwd, variant_env, args.events, store), "fit": "fitted" if fits else "kept"}
                    runs[label].append(run)
                    print(f"[{i + 1}/{args.repeat}] {label}: {run['wall_s']} s wall, {run['cpu_s']} s CPU, "
                          f"server {run['server_cpu_s']} s CPU, peak {run['peak_mb']} MB, fit {run['fit']}, "
                          f"{run['summary']['n_current']:,} events, load {run['loadavg1_before']}", flush=True)
    finally:
        if not args.keep:
            _drop(store, sqlite_path)
        else:
            store.close()
    first = runs["B"][0]["summary"]
    comparisons = [compare(first, r["summary"]) for rs in runs.values() for r in rs]
    identical = {"same_checks": all(c["same_checks"] for c in comparisons),
                 "same_verdicts": all(c["same_verdicts"] for c in comparisons),
                 "max_relative_difference": max(c["max_relative_difference"] for c in comparisons),
                 "where": next((c["where"] for c in comparisons if c["where"]), None)}
    summary = {label: {"wall_s_median": round(statistics.median(r["wall_s"] for r in rs), 2),
                       "cpu_s_median": round(statistics.median(r["cpu_s"] for r in rs), 2),
                       "server_cpu_s_median": _median([r["server_cpu_s"] for r in rs]),
                       "wall_s": [r["wall_s"] for r in rs], "peak_mb_max": max(r["peak_mb"] for r in rs)}
               for label, rs in runs.items()}
    command = " ".join([".venv/bin/python scripts/bench_drift.py", *sys.argv[1:]])
    data = {"store": kind, "events": args.events, "before": args.before, "results_compared": identical,
            "summary": summary, "cpus": os.cpu_count(), "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            "at": datetime.now(UTC).isoformat(timespec="seconds"), "command": command,
            "drift_command": f"python -m monitoring drift --last {args.events} --json",
            "runs": {label: [{k: v for k, v in r.items() if k != "summary"} for r in rs] for label, rs in runs.items()},
            "drifted": first["share_drifted"], "report_html": [r["summary"]["report_html"] for r in runs["B"]][:1]}
    names = {"A": f"before ({args.before})", "B": "work tree"}
    lines = [f"# Drift over {args.events:,} stored events ({kind}): the whole command\n",
             f"`python -m monitoring drift --last {args.events} --json` as a child process (start-up, reference, "
             f"sample, tests, HTML report), {args.repeat} runs per variant, interleaved; the machine has "
             f"{os.cpu_count()} CPUs shared with other work: the load average is given per run.\n",
             "CPU is user + system seconds of the command and its child processes; it moves less with the "
             "neighbours' load than the wall time. Server CPU is the Elasticsearch node's own CPU time during the "
             "run (the server is shared: anything else asking it for work meanwhile is in it). Fit: `fitted` when "
             "the run fitted the reference (no kept fit), `kept` when it read the fit kept by an earlier run.\n",
             "| variant | run | fit | wall (s) | CPU (s) | server CPU (s) | peak RSS (MB) | load avg (1 min) before |",
             "|---|---|---|---|---|---|---|---|"]
    for label, rs in runs.items():
        lines += [f"| {names[label]} | {i} | {r['fit']} | {r['wall_s']} | {r['cpu_s']} | {r['server_cpu_s']} | "
                  f"{r['peak_mb']} | {r['loadavg1_before']} |" for i, r in enumerate(rs, start=1)]
    lines += ["", "| variant | median wall (s) | median CPU (s) | median server CPU (s) | max peak RSS (MB) |",
              "|---|---|---|---|---|"]
    lines += [f"| {names[k]} | {v['wall_s_median']} | {v['cpu_s_median']} | {v['server_cpu_s_median']} | "
              f"{v['peak_mb_max']} |" for k, v in summary.items()]
    lines += ["", f"Every run against the first work-tree run: same checks {identical['same_checks']}, same "
              f"verdicts and share drifted {identical['same_verdicts']}, largest relative difference of a "
              f"value {identical['max_relative_difference']:.1e} ({identical['where'] or 'none'}).", "",
              f"Command: `{command}`", ""]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(data, indent=2) + "\n")
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"peak RSS of this script {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if known else None


def _drop(store: Any, sqlite_path: Path) -> None:
    """Delete the benchmark's indices or SQLite file."""
    drop = getattr(store, "drop_all", None)
    if drop:
        print(f"dropped {drop()}")
    store.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
