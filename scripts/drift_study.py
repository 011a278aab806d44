"""Drift study: replay simulated days of applications through the API and run a drift report per day.

Starts the gateway in embedded mode (fakeredis, in-process indexer writing a
fresh SQLite file), then for each scenario sends each simulated day's
applications to ``POST /v1/score/batch``, waits until the indexer has stored
them, and runs one drift report over exactly that day's events (``--last N``,
as ``python -m monitoring drift --last N`` would). Scenarios use the synthetic
generator's drift options and grow day after day, so the table says from which
day, at which size, and by which test each drift is caught.

Writes ``<out>/results.csv``, ``results.json`` and ``results.md``, plus dashboard
pictures in docs/screenshots/ (``--no-screenshots`` to skip).

    .venv/bin/python scripts/drift_study.py [--per-day 3000] [--control-days 14] [--out docs/drift-study]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]
os.environ.setdefault("DO_NOT_TRACK", "1")

import httpx  # noqa: E402

from training.synthetic import Drift  # noqa: E402

# the login of the dashboard served for the pictures (a one-off user of this script's own server)
STUDY_USER = ("drift-study", uuid.uuid4().hex)


@dataclass
class Scenario:
    """Simulated days: one Drift per day (the control has none)."""

    name: str
    what: str
    expected: list[str]  # the feature(s) the scenario moves directly (a scenario counts as caught through them)
    days: list[tuple[str, Drift]] = field(default_factory=list)  # (label of the day's size, drift)


def scenarios(control_days: int) -> list[Scenario]:
    """The control period and the drift scenarios, each growing day after day."""
    contract = "NAME_CONTRACT_TYPE"
    income_type = "NAME_INCOME_TYPE"
    ext = ["EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3"]
    return [
        Scenario("control", "no drift: fresh applications from the training distribution", [],
                 [("none", Drift()) for _ in range(control_days)]),
        Scenario("income_inflation", "declared incomes inflated (AMT_INCOME_TOTAL x factor)", ["AMT_INCOME_TOTAL"],
                 [(f"x{f:.2f}", Drift(income_factor=f)) for f in (1.02, 1.04, 1.07, 1.10, 1.15, 1.20)]),
        Scenario("revolving_loans", "more revolving loans (NAME_CONTRACT_TYPE share of 'Revolving loans')", [contract],
                 [(f"{p:.0%} revolving", Drift(category_shift={contract: {"Cash loans": 1 - p, "Revolving loans": p}}))
                  for p in (0.11, 0.13, 0.16, 0.20, 0.25, 0.30)]),
        Scenario("pensioners", "more pensioners (NAME_INCOME_TYPE); the generator moves the employment fields with "
                 "them (DAYS_EMPLOYED = 365243, no FLAG_EMP_PHONE, no occupation, organisation XNA)",
                 [income_type, "DAYS_EMPLOYED", "FLAG_EMP_PHONE", "OCCUPATION_TYPE", "ORGANIZATION_TYPE"],
                 [(f"{p:.0%} pensioners", Drift(category_shift={income_type: {
                     "Working": 0.52 * (1 - p) / 0.82, "Commercial associate": 0.23 * (1 - p) / 0.82,
                     "State servant": 0.07 * (1 - p) / 0.82, "Pensioner": p}}))
                  for p in (0.20, 0.22, 0.25, 0.30, 0.35, 0.40)]),
        Scenario("ext_source_missing", "EXT_SOURCE_1/2/3 missing more often (extra share blanked)", ext,
                 [(f"+{m:.0%} missing", Drift(ext_source_missing_extra=m))
                  for m in (0.01, 0.03, 0.05, 0.08, 0.12, 0.2)]),
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_gateway(sqlite_path: Path, model_dir: Path, port: int, log: Path) -> subprocess.Popen:
    """The embedded mode (``python -m embedded``: gateway, worker and indexer), on its own SQLite file."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "ELASTICSEARCH_URL", "API_KEYS")}
    env.update(SQLITE_PATH=str(sqlite_path), MODEL_DIR=str(model_dir), PORT=str(port), HOST="127.0.0.1",
               ALLOW_NO_API_KEY="true", ENVIRONMENT="development", LOG_LEVEL="WARNING")
    handle = log.open("w")
    process = subprocess.Popen([sys.executable, "-m", "embedded", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the gateway exited ({process.returncode}); see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise SystemExit(f"the gateway did not become ready in 120 s; see {log}")


def send_day(client: httpx.Client, apps: list[dict[str, Any]], batch: int = 500) -> int:
    """POST the day's applications in batches; returns how many were scored."""
    scored = 0
    for i in range(0, len(apps), batch):
        response = client.post("/v1/score/batch", json={"applications": apps[i:i + batch]})
        response.raise_for_status()
        scored += response.json()["scored"]
    return scored


def wait_indexed(store, expected: int, timeout: float = 300) -> None:
    """Wait until the embedded indexer has stored ``expected`` scored events."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if store.count_events(status="ok") >= expected:
            return
        time.sleep(0.5)
    raise SystemExit(f"only {store.count_events(status='ok')} of {expected} events indexed after {timeout:.0f} s")


def _row(scenario: Scenario, day: int, label: str, result) -> dict[str, Any]:
    """One line of the results: what the day's drift run flagged, and how close the rest came."""
    drifted = [c for c in result.checks if c.drifted]
    score = result.score
    quiet = [c for c in result.checks if not c.drifted and c.value is not None and c.threshold]
    closest = max(quiet, key=lambda c: c.value / c.threshold, default=None)
    return {
        "scenario": scenario.name, "day": day, "drift": label, "events": result.n_current,
        "alarm": bool(drifted) or bool(score and score.drifted),
        "direct": bool([c for c in drifted if c.name in scenario.expected]),
        "off_target": ";".join(sorted({c.name for c in drifted if c.name not in scenario.expected})),
        "caught_by": ";".join(f"{c.name}:{c.test}={c.value:.4f}>={c.threshold:.4f}" for c in drifted),
        "n_drifted_features": len(result.drifted_features),
        "share_drifted": round(result.share_drifted or 0, 4),
        "score_psi": round(score.value, 4) if score and score.value is not None else None,
        "score_drifted": bool(score and score.drifted), "severity": result.severity or "",
        "closest_quiet_check": f"{closest.name}:{closest.test}={closest.value / closest.threshold:.2f}x threshold"
        if closest else "", "report_id": result.report_id, "duration_s": round(result.duration_s, 2),
    }


def _summary(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| scenario | days | first day with an alarm | drift size that day | caught by (first alarm) "
             "| days with an alarm |", "|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["scenario"] for r in rows):
        mine = [r for r in rows if r["scenario"] == name]
        first = next((r for r in mine if r["alarm"]), None)
        caught = ", ".join(sorted({c.split("=")[0] for c in first["caught_by"].split(";")})) if first else "-"
        lines.append(f"| {name} | {len(mine)} | {first['day'] if first else 'none'} | "
                     f"{first['drift'] if first else '-'} | {caught} | {sum(r['alarm'] for r in mine)} |")
    return lines


def write_results(rows: list[dict[str, Any]], out: Path, meta: dict[str, Any]) -> None:
    """CSV, JSON and a markdown summary plus the day-by-day table."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "results.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = [f"Generated by `{meta['command']}` on {meta['date']}: {meta['per_day']} applications per simulated "
             f"day through `POST /v1/score/batch`, model {meta['model_version']}, thresholds {meta['thresholds']}.",
             "", *_summary(rows), "", "Day by day (value >= threshold is drift; 'closest quiet check' is the "
             "check nearest to its threshold without reaching it):", "",
             "| scenario | day | drift | events | alarm | caught by (feature:test=value>=threshold) | off-target "
             "| score PSI | severity | closest quiet check |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        caught = r["caught_by"].replace(";", ", ") or "-"
        lines.append(f"| {r['scenario']} | {r['day']} | {r['drift']} | {r['events']} | "
                     f"{'yes' if r['alarm'] else '-'} | {caught} | {r['off_target'] or '-'} | {r['score_psi']} | "
                     f"{r['severity'] or '-'} | "
                     f"{r['closest_quiet_check']} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-day", type=int, default=3000, help="applications per simulated day")
    parser.add_argument("--control-days", type=int, default=14)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "drift-study")
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--no-screenshots", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite store (about 7 MB per 1,000 events)")
    args = parser.parse_args()

    from monitoring.drift.run import DriftJob, WindowSpec
    from monitoring.settings import MonitoringSettings
    from shared.store.sqlite import SQLiteEventStore
    from training.synthetic import generate_applications

    tag = uuid.uuid4().hex[:8]
    sqlite_path = ROOT / f"var/drift-study-{tag}.sqlite3"
    from monitoring.dashboard.auth import hash_password

    settings = MonitoringSettings(sqlite_path=sqlite_path, reports_dir=ROOT / "var/reports/drift-study",
                                  elasticsearch_url=None, redis_url=None, allow_open_dashboard=False,
                                  dashboard_users=f"{STUDY_USER[0]}:{hash_password(STUDY_USER[1], rounds=4)}")
    port = _free_port()
    gateway = start_gateway(sqlite_path, settings.model_dir.resolve(), port, ROOT / f"var/drift-study-{tag}.log")
    store = SQLiteEventStore(sqlite_path)
    store.setup()
    job = DriftJob(settings, store)
    job.calculator()  # fit the reference once, before the clock of the first day
    rows: list[dict[str, Any]] = []
    shots: list[tuple[str, str]] = []
    total = 0
    seed = args.seed
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            for scenario in scenarios(args.control_days):
                for day, (label, drift) in enumerate(scenario.days, start=1):
                    seed += 1
                    apps = generate_applications(args.per_day, seed=seed, drift=drift)
                    total += send_day(client, apps)
                    wait_indexed(store, total)
                    last_day = day == len(scenario.days)
                    result = job.run(WindowSpec(last=args.per_day), html=last_day)
                    row = _row(scenario, day, label, result)
                    rows.append(row)
                    print(f"{scenario.name:<20} day {day} ({label:<16}) alarm={row['alarm']!s:<5} "
                          f"{row['caught_by'] or '-'}  psi={row['score_psi']}  closest quiet: "
                          f"{row['closest_quiet_check']}", flush=True)
                if not args.no_screenshots:
                    shots.append((scenario.name, _shoot(settings, store, scenario)))
    finally:
        gateway.terminate()
        gateway.wait(30)
    thresholds = {"wasserstein": settings.drift_numeric_threshold,
                  "jensenshannon": settings.drift_categorical_threshold,
                  "missing_share": settings.drift_missing_threshold, "psi": settings.drift_score_threshold,
                  "noise_factor": settings.drift_noise_factor}
    meta = {"command": "python scripts/drift_study.py " + " ".join(sys.argv[1:]), "per_day": args.per_day,
            "date": time.strftime("%Y-%m-%d"), "thresholds": thresholds,
            "model_version": job.calculator().model_version, "screenshots": shots}
    write_results(rows, args.out, meta)
    control = [r for r in rows if r["scenario"] == "control"]
    false_alarms = sum(r["n_drifted_features"] for r in control) + sum(bool(r["off_target"]) for r in rows
                                                                        if r["scenario"] != "control")
    missed = sorted({r["scenario"] for r in rows if r["scenario"] != "control"}
                    - {r["scenario"] for r in rows if r["alarm"] and r["direct"]})
    print(f"\nfalse alarms (control, or off-target features in a scenario): {false_alarms} over {len(rows)} days; "
          f"missed scenarios: {missed or 'none'}")
    print(f"results: {args.out}/results.md")
    store.close()
    if args.keep:
        print(f"store kept at {sqlite_path}")
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)
    return 0 if not false_alarms and not missed else 1


def _shoot(settings, store, scenario: Scenario) -> str:
    """A picture of the drift page after the scenario's last day (its most drifted feature plotted)."""
    import logging

    from monitoring.dashboard.app import create_app
    from monitoring.dashboard.data import DashboardData
    from monitoring.dashboard.server import serve_in_thread
    from tests.monitoring.browser import chromium_paths, full_page_png, start_chromium, wait_rendered

    if chromium_paths() is None:
        return ""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    running = serve_in_thread(create_app(settings, DashboardData(settings, store)).server)
    driver = start_chromium(auth=STUDY_USER)
    target = ROOT / "docs" / "screenshots" / f"drift-study-{scenario.name}.png"
    try:
        driver.get(running.url + "/drift")
        wait_rendered(driver, 2)
        full_page_png(driver, target)
    finally:
        driver.quit()
        running.stop()
    return str(target.relative_to(ROOT))


if __name__ == "__main__":
    sys.exit(main())
