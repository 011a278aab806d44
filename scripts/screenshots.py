"""Dashboard screenshots from a simulated day of traffic.

1. fills a fresh store (SQLite in var/, or Elasticsearch on its own prefix when
   ELASTICSEARCH_URL is set) with 24 h of events: synthetic applications scored
   by the real bundle, a daytime traffic curve, income inflation in the last 6 h,
   a burst of errors and a latency spike;
2. runs what the scheduler would have run during that day: anomaly checks every
   5 minutes and a drift run every 3 hours (each over the previous 3 hours);
   then sends outcomes for the first 18 hours' applications and stores a
   performance run every 3 hours;
3. stores a simulated day of resource samples (processes, host, Redis, Elasticsearch);
4. serves the dashboard and saves one PNG per page with headless Chromium.

    [ELASTICSEARCH_URL=...] [REDIS_URL=...] .venv/bin/python scripts/screenshots.py [--events 12000] \
        [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]
os.environ.setdefault("DO_NOT_TRACK", "1")

import numpy as np  # noqa: E402

# the login of the dashboard served for the screenshots (a one-off user of this script's own server)
SHOT_USER = ("screenshots", uuid.uuid4().hex)
PAGES = [("operations", "/", 5), ("scores", "/scores", 2), ("drift", "/drift", 3), ("performance", "/performance", 4),
         ("alerts", "/alerts", 0), ("events", "/events", 0), ("models", "/models", 1), ("resources", "/resources", 4)]


def _times(n: int, end: datetime, rng: np.random.Generator) -> list[datetime]:
    """``n`` times over the 24 h before ``end``, denser in the daytime (peak at 14:00 UTC)."""
    hours = np.linspace(0, 24, 24 * 60, endpoint=False)
    start = end - timedelta(hours=24)
    clock = (start.hour + start.minute / 60 + hours) % 24
    density = 0.25 + np.exp(-((clock - 14) ** 2) / 18)
    minute = rng.choice(len(hours), size=n, p=density / density.sum())
    offsets = np.sort(minute * 60 + rng.random(n) * 60)
    return [start + timedelta(seconds=float(s)) for s in offsets]


def fill_day(store, model_dir: Path, n: int, end: datetime, seed: int = 0) -> None:
    """Store one simulated day of events ending at ``end``."""
    from sim_events import scored_events

    from shared.scorer import Scorer
    from training.synthetic import Drift, generate_applications

    rng = np.random.default_rng(seed)
    times = _times(n, end, rng)
    drift_from = end - timedelta(hours=6)
    clean = [t for t in times if t < drift_from]
    drifted = [t for t in times if t >= drift_from]
    apps = generate_applications(len(clean), seed=seed) + generate_applications(
        len(drifted), seed=seed + 1, drift=Drift(income_factor=1.3))
    burst = (end - timedelta(hours=9), end - timedelta(hours=8, minutes=40))
    spike = (end - timedelta(hours=3, minutes=30), end - timedelta(hours=3))
    errors = [(burst[0] <= t < burst[1] and rng.random() < 0.2) or rng.random() < 0.002 for t in times]
    invalid = [rng.random() < 0.01 for _ in times]
    factor = [8.0 if spike[0] <= t < spike[1] else 1.0 for t in times]
    scorer = Scorer.load(model_dir)
    for i in range(0, n, 4000):
        part = slice(i, i + 4000)
        events = scored_events(apps[part], times[part], scorer, seed=seed + i, latency_factor=factor[part],
                               error_mask=errors[part], invalid_mask=invalid[part])
        failed = store.index_events(events).failed
        if failed:
            raise SystemExit(f"indexing failed: {list(failed.items())[:3]}")
    print(f"stored {n:,} events ({len(drifted):,} in the income-inflated last 6 h)", flush=True)


def replay_jobs(settings, store, end: datetime) -> None:
    """What the scheduler would have done during the day."""
    from monitoring.anomalies import AnomalyDetector
    from monitoring.drift.run import DriftJob, WindowSpec

    detector = AnomalyDetector(settings, store)
    moment = end - timedelta(hours=23)
    while moment <= end:
        detector.run(now=moment)
        moment += timedelta(minutes=5)
    print(f"anomaly checks done: {len(store.list_alerts(limit=1000))} alerts", flush=True)
    job = DriftJob(settings, store)
    for k in range(8, 0, -1):
        until = end - timedelta(hours=3 * (k - 1))
        result = job.run(WindowSpec(hours=3, until=until), html=k == 1)
        print(f"drift run over the 3 h to {until:%H:%M}: {result.message}", flush=True)
    replay_performance(settings, store, end)


def replay_performance(settings, store, end: datetime, seed: int = 0) -> None:
    """Outcomes for the applications of the first 18 hours (each defaults with its probability, so the
    scores are calibrated), then a performance run every 3 hours over the applications scored so far."""
    from monitoring.performance.run import PerformanceJob, PerformanceWindow
    from shared.outcomes import OutcomeService

    rng = np.random.default_rng(seed)
    known = [e for e in store.scored_summaries(None, 1_000_000)
             if e["timestamp"] < (end - timedelta(hours=6)).isoformat().replace("+00:00", "Z")]
    observed = end.isoformat()
    items = [{"event_id": e["event_id"], "defaulted": bool(rng.random() < e["score"]), "observed_at": observed}
             for e in known]
    service = OutcomeService(store, settings.pseudonymisation_key)
    for i in range(0, len(items), 10_000):
        service.ingest({"outcomes": items[i:i + 10_000]})
    store.refresh()
    job = PerformanceJob(settings, store)
    for k in range(8, 0, -1):
        until = end - timedelta(hours=3 * (k - 1))
        report = job.run(PerformanceWindow(since=end - timedelta(hours=24), until=until), alert=False, save=False)
        report["timestamp"] = until.isoformat(timespec="milliseconds").replace("+00:00", "Z")  # as if run then
        store.save_performance_report(report)
    print(f"performance runs done ({len(items):,} outcomes)", flush=True)


def shoot(settings, store, out: Path) -> list[Path]:
    """Serve the dashboard and save one PNG per page."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log lines
    from monitoring.dashboard.app import create_app
    from monitoring.dashboard.data import DashboardData
    from monitoring.dashboard.server import serve_in_thread
    from monitoring.queue_probe import QueueProbe
    from tests.monitoring.browser import full_page_png, start_chromium, wait_rendered

    # the queue card reads REDIS_URL (or GATEWAY_METRICS_URL) as the dashboard does
    data = DashboardData(settings, store, QueueProbe.from_settings(settings))  # type: ignore[arg-type]
    running = serve_in_thread(create_app(settings, data).server)
    driver = start_chromium(auth=SHOT_USER)
    saved = []
    try:
        for name, path, graphs in PAGES:
            driver.set_window_size(1440, 1000)
            driver.get(running.url + path)
            wait_rendered(driver, graphs)
            if name == "drift":
                driver.execute_script("window.scrollTo(0, 0)")
            target = out / f"{name}.png"
            full_page_png(driver, target)
            saved.append(target)
            print(f"saved {target}", flush=True)
        reports = sorted(Path(settings.reports_dir).glob("drift-*.html"))
        if reports:
            driver.set_window_size(1440, 1000)
            driver.get(f"{running.url}/reports/{reports[-1].name}")
            time.sleep(0.5)  # a static page: nothing renders client-side
            target = out / "drift-report-html.png"
            driver.save_screenshot(str(target))
            saved.append(target)
            print(f"saved {target}", flush=True)
    finally:
        driver.quit()
        running.stop()
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=12_000, help="events in the simulated day")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from monitoring.settings import MonitoringSettings
    from shared.store.factory import describe, make_store

    tag = uuid.uuid4().hex[:8]
    from monitoring.dashboard.auth import hash_password

    settings = MonitoringSettings(sqlite_path=ROOT / f"var/screenshots-{tag}.sqlite3",
                                  es_index_prefix=f"screenshots-{tag}", reports_dir=ROOT / "var/reports/screenshots",
                                  dashboard_users=f"{SHOT_USER[0]}:{hash_password(SHOT_USER[1], rounds=4)}",
                                  allow_open_dashboard=False)
    store = make_store(settings)
    store.setup()
    print(f"store: {describe(store)}", flush=True)
    end = datetime.now(UTC)
    try:
        fill_day(store, settings.model_dir, args.events, end, args.seed)
        # resource samples of a simulated multi-process stack (this script is one process)
        from tests.monitoring.resource_factories import resource_samples

        store.save_resources(resource_samples(end, hours=24, step=timedelta(minutes=10)))
        replay_jobs(settings, store, end)
        shoot(settings, store, args.out)
    finally:
        drop = getattr(store, "drop_all", None)
        if drop:
            drop()
        store.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{settings.sqlite_path}{suffix}").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
