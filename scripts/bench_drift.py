"""Time one drift run over 100,000 stored events (goal: at most 10 s).

Fills a fresh store (SQLite by default; Elasticsearch when ELASTICSEARCH_URL is
set, on its own index prefix) with N events of synthetic applications scored by
the real bundle, then runs ``DriftJob.run(WindowSpec(last=N))`` -- what
``python -m monitoring drift --last N`` does -- and reports wall time, CPU time
and the split (store sample / comparison / HTML), plus the one-off costs
(importing Evidently, fitting the reference).

    .venv/bin/python scripts/bench_drift.py [--events 100000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DO_NOT_TRACK", "1")


def _fill(store, n: int, model_dir: Path, batch: int = 5000) -> None:
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2, help="drift runs to time (the first one fits the reference)")
    parser.add_argument("--keep", action="store_true", help="keep the store afterwards")
    args = parser.parse_args()

    from monitoring.settings import MonitoringSettings

    tag = uuid.uuid4().hex[:8]
    settings = MonitoringSettings(sqlite_path=Path(f"var/bench-drift-{tag}.sqlite3"), es_index_prefix=f"bench-{tag}",
                                  reports_dir=Path("var/reports/bench"))
    from shared.store.factory import describe, make_store

    store = make_store(settings)
    store.setup()
    try:
        print(f"store: {describe(store)}; filling {args.events:,} events ...", flush=True)
        t = time.perf_counter()
        _fill(store, args.events, settings.model_dir)
        print(f"filled in {time.perf_counter() - t:.1f} s")

        t, c = time.perf_counter(), time.process_time()
        import monitoring.drift.html  # noqa: F401  (Evidently and its renderer)
        from monitoring.drift.run import DriftJob, WindowSpec

        print(f"import Evidently: {time.perf_counter() - t:.1f} s wall, {time.process_time() - c:.1f} s CPU")
        job = DriftJob(settings, store)
        t, c = time.perf_counter(), time.process_time()
        job.calculator()
        print(f"fit reference ({job.calculator().n_reference:,} rows, 120 features): "
              f"{time.perf_counter() - t:.1f} s wall, {time.process_time() - c:.1f} s CPU")
        rows = []
        for i in range(args.repeat):
            t, c = time.perf_counter(), time.process_time()
            result = job.run(WindowSpec(last=args.events))
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            rows.append((wall, cpu, result))
            print(f"run {i + 1}: {wall:.1f} s wall, {cpu:.1f} s CPU; {result.n_current:,} events; "
                  + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
                  + f"; {len(result.drifted_features)} drifted; load avg {os.getloadavg()[0]:.1f}", flush=True)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("\n| store | events | run | wall (s) | CPU (s) | sample (s) | compare (s) | HTML (s) |")
        print("|---|---|---|---|---|---|---|---|")
        kind = describe(store).split()[0]
        for i, (wall, cpu, result) in enumerate(rows, start=1):
            t = result.timings
            print(f"| {kind} | {result.n_current:,} | {i} | {wall:.1f} | {cpu:.1f} | {t['sample_s']:.1f} | "
                  f"{t['calculate_s']:.1f} | {t['html_s']:.1f} |")
        walls = sorted(r[0] for r in rows)
        print(f"\nmedian run {walls[len(walls) // 2]:.1f} s wall; peak RSS {peak:.0f} MB; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    finally:
        if not args.keep:
            _drop(store, settings.sqlite_path)
    return 0


def _drop(store, sqlite_path: Path) -> None:
    """Delete the benchmark's indices or SQLite file."""
    drop = getattr(store, "drop_all", None)
    if drop:
        print(f"dropped {drop()}")
    store.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
