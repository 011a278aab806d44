"""What storage the platform needs: bytes per event in Elasticsearch, per day and over the retention.

Indexes ``--events`` realistic events (synthetic applications scored by the
bundle, the simulated timings of ``scripts/sim_events.py``) through the
production store (same index template and mapping) on a scratch index prefix,
refreshes, and reads ``_stats``: the primary store size after the refresh and
after a force-merge to one segment (the size a finished daily index settles
to). Then the same for a day of resource samples (one per process, host and
server per minute) and a drift-run summary, and the size of one access-log line
and one drift HTML report. The scratch indices are deleted at the end.

Extrapolated to 10,000, 100,000 and 1,000,000 applications a day over the
retention (``--days``, 90), primary and with one replica (twice the primary).

Writes docs/results/storage-cost.json and .md.

Usage:
    .venv/bin/python -m benchmarks.storage_cost [--events 20000] [--days 90] [--url http://127.0.0.1:9200]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import BENCH_DIR, ROOT, bundle_dir, bundle_info, log, machine, md_table

VOLUMES = (10_000, 100_000, 1_000_000)
GIB = 1024**3


def _store_bytes(store: Any, index: str) -> dict[str, int]:
    store.client.indices.refresh(index=index)
    stats = store.client.indices.stats(index=index, metric="store,docs").body["_all"]["primaries"]
    return {"bytes": int(stats["store"]["size_in_bytes"]), "docs": int(stats["docs"]["count"])}


def _merged_bytes(store: Any, index: str) -> dict[str, int]:
    store.client.indices.forcemerge(index=index, max_num_segments=1, wait_for_completion=True)
    return _store_bytes(store, index)


def _events(n: int, end: datetime) -> list[dict[str, Any]]:
    sys.path.insert(0, str(ROOT / "scripts"))
    from sim_events import scored_events  # type: ignore[import-not-found]

    from shared.scorer import Scorer
    from training.synthetic import generate_applications

    scorer = Scorer.load(bundle_dir())
    apps = generate_applications(n, seed=11)
    times = [end - timedelta(seconds=(n - i) * 86_400 / n) for i in range(n)]
    return list(scored_events(apps, times, scorer, seed=11))


def _access_log_line() -> int:
    """Bytes of one gateway access-log line (the JSON formatter, the fields the middleware logs)."""
    from shared.logs import JsonFormatter

    record = logging.LogRecord("gateway.access", logging.INFO, __file__, 0, "request", None, None)
    for key, value in {"request_id": uuid.uuid4().hex, "method": "POST", "route": "/v1/score",
                       "path": "/v1/score", "status": 200, "duration_ms": 3.217}.items():
        setattr(record, key, value)
    return len(JsonFormatter().format(record).encode()) + 1


def _drift(store: Any, prefix: str, url: str, n: int) -> dict[str, Any]:
    """One drift run on the stored events: its summary in the reports index, its HTML report on disk."""
    from monitoring.drift.run import DriftJob, WindowSpec
    from monitoring.settings import MonitoringSettings

    reports = Path(tempfile.mkdtemp(prefix="storage-cost-reports-"))
    settings = MonitoringSettings(elasticsearch_url=url, es_index_prefix=prefix, reports_dir=reports,
                                  model_dir=bundle_dir())
    DriftJob(settings, store).run(WindowSpec(last=n))
    html = sum(p.stat().st_size for p in reports.glob("*.html"))
    for p in reports.glob("*"):
        p.unlink()
    reports.rmdir()
    return {"summary": _store_bytes(store, store.reports_index), "html_bytes": html}


def measure(url: str, n: int, with_drift: bool) -> dict[str, Any]:
    """Index the events and a day of resource samples on a scratch prefix; their sizes."""
    from shared.store.elastic import ElasticsearchEventStore
    from tests.monitoring.resource_factories import resource_samples

    prefix = f"bench-storage-{uuid.uuid4().hex[:8]}"
    store = ElasticsearchEventStore(url, prefix)
    store.setup()
    try:
        end = datetime.now(UTC)
        log(f"scoring {n:,} synthetic applications ...")
        events = _events(n, end)
        started = time.perf_counter()
        for i in range(0, n, 2000):
            result = store.index_events(events[i:i + 2000])
            assert not result.failed and not result.retry, result
        log(f"indexed {n:,} events in {time.perf_counter() - started:.1f} s")
        index = store.events_pattern
        out: dict[str, Any] = {"events": {"refreshed": _store_bytes(store, index)}}
        out["events"]["merged"] = _merged_bytes(store, index)
        out["events"]["source_json_bytes"] = sum(len(json.dumps(e, separators=(",", ":"))) for e in events) // n
        samples = resource_samples(end, hours=24, step=timedelta(minutes=1))
        store.save_resources(samples)
        out["resources"] = {"per_day": _merged_bytes(store, store.resources_index)}
        if with_drift:
            out["drift"] = _drift(store, prefix, url, n)
    finally:
        store.drop_all()
        store.close()
    return out


def extrapolate(measured: dict[str, Any], days: int) -> dict[str, Any]:
    """Per day and over ``days``, primary and with one replica, for each volume."""
    per_event = measured["events"]["merged"]["bytes"] / measured["events"]["merged"]["docs"]
    log_line = measured["access_log_line_bytes"]
    rows = {}
    for volume in VOLUMES:
        day = volume * per_event
        rows[str(volume)] = {"events_per_day_bytes": round(day), "events_retention_primary_bytes": round(day * days),
                             "events_retention_one_replica_bytes": round(2 * day * days),
                             "access_logs_per_day_bytes": volume * log_line,
                             "access_logs_retention_bytes": volume * log_line * days}
    fixed = {"resources_per_day_bytes": measured["resources"]["per_day"]["bytes"],
             "resources_retention_bytes": measured["resources"]["per_day"]["bytes"] * days}
    if "drift" in measured:
        runs = 24 * days  # one scheduled run an hour
        fixed["drift_per_run_bytes"] = measured["drift"]["summary"]["bytes"] + measured["drift"]["html_bytes"]
        fixed["drift_retention_bytes"] = fixed["drift_per_run_bytes"] * runs
    return {"bytes_per_event_primary": round(per_event, 1), "by_volume": rows, "independent_of_volume": fixed}


def markdown(data: dict[str, Any]) -> str:
    """The report."""
    m, x = data["measured"], data["extrapolated"]
    ev = m["events"]
    rows = [[f"{int(v):,}", f"{r['events_per_day_bytes'] / 1024**2:,.1f} MiB",
             f"{r['events_retention_primary_bytes'] / GIB:,.2f} GiB",
             f"{r['events_retention_one_replica_bytes'] / GIB:,.2f} GiB",
             f"{r['access_logs_retention_bytes'] / GIB:,.2f} GiB"] for v, r in x["by_volume"].items()]
    fixed = x["independent_of_volume"]
    lines = [
        "# Storage per event and over the retention\n",
        f"Elasticsearch at {data['url']}, {data['events']:,} events indexed through the production mapping; "
        f"machine load {data['machine']['loadavg']}.\n",
        f"- events: {ev['merged']['bytes'] / ev['merged']['docs']:,.0f} bytes per event (primary, force-merged "
        f"to one segment); {ev['refreshed']['bytes'] / ev['refreshed']['docs']:,.0f} bytes right after indexing "
        f"(before merges); the JSON document itself is {ev['source_json_bytes']:,} bytes",
        f"- one access-log line: {m['access_log_line_bytes']} bytes",
        f"- resource samples: {fixed['resources_per_day_bytes'] / 1024**2:,.2f} MiB a day (7 processes, host, "
        "Redis, one Elasticsearch node, one sample a minute each)",
    ]
    if "drift_per_run_bytes" in fixed:
        lines.append(f"- one drift run: {m['drift']['summary']['bytes']:,} bytes of summary in the reports index "
                     f"+ {m['drift']['html_bytes']:,} bytes of HTML report")
    lines += ["", f"Over {data['days']} days:", "",
              md_table(["applications a day", "events a day", f"events, {data['days']} d primary",
                        "with one replica", f"access logs, {data['days']} d"], rows),
              f"Command: `{data['command']}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--url", default=os.environ.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--no-drift", action="store_true", help="skip the drift run (Evidently)")
    args = parser.parse_args(argv)
    data: dict[str, Any] = {"machine": machine(), "bundle": bundle_info(), "url": args.url, "events": args.events,
                            "days": args.days,
                            "command": " ".join([".venv/bin/python -m benchmarks.storage_cost",
                                                 *(argv if argv is not None else sys.argv[1:])])}
    data["measured"] = measure(args.url, args.events, not args.no_drift)
    data["measured"]["access_log_line_bytes"] = _access_log_line()
    data["extrapolated"] = extrapolate(data["measured"], args.days)
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    (BENCH_DIR / "storage-cost.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    text = markdown(data)
    (BENCH_DIR / "storage-cost.md").write_text(text)
    log(f"wrote {BENCH_DIR / 'storage-cost.json'} and .md")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
