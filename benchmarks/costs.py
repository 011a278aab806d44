"""Cost per million scored applications and of the stored data, from measured figures and dated list prices.

Reads the result files the benchmarks wrote (nothing is measured here):

- ``docs/results/endtoend-cost.json`` (``benchmarks.endtoend``): requests/s of the gateway
  (two uvicorn workers, each scored application's event handed to Redis) on this machine;
- ``docs/results/quantisation.json``: single-row p50 of the model alone, the floor of the
  CPU cost of a decision;
- ``docs/results/storage-cost.json``: bytes per event and the retention sizes.

and multiplies them by the list prices below (on-demand, Linux, us-east-1; quoted with their
source and date: check the provider's page before buying). The machine the throughput was
measured on has 2 x86-64 cores, shared with the load generator, Redis and Elasticsearch, so
the cost per million taken from it is an upper bound for a host of the same size that serves
only the gateway.

Writes docs/results/costs.json and .md.

Usage:
    .venv/bin/python -m benchmarks.costs
"""

from __future__ import annotations

import json
import sys
from typing import Any

from benchmarks.common import BENCH_DIR, machine, md_table

HOURS_PER_MONTH = 730
PRICES: dict[str, dict[str, Any]] = {
    "m7g.large": {"usd_per_hour": 0.0816, "vcpus": 2, "memory_gib": 8, "gpu": None,
                  "source": "https://www.factualminds.com/blog/amazon-ec2-on-demand-pricing-instance-families-2026/",
                  "date": "2026-06-17", "note": "Graviton (arm64): onnxruntime ships arm64 wheels; "
                                                "throughput measured on x86-64, not on this instance"},
    "g5.xlarge": {"usd_per_hour": 1.006, "vcpus": 4, "memory_gib": 16, "gpu": "1 x NVIDIA A10G",
                  "source": "https://www.factualminds.com/blog/amazon-ec2-on-demand-pricing-instance-families-2026/",
                  "date": "2026-06-17", "note": "the GPU instance, for the comparison only"},
}
STORAGE_PRICES: dict[str, dict[str, Any]] = {
    "managed search hot storage (EBS, OpenSearch Service)": {
        "usd_per_gb_month": 0.10, "source": "https://awsnegotiations.com/opensearch-cost-management.html",
        "date": "read 2026-12-07 (the page gives no date; approximate: '~$0.10/GB-month')"},
    "managed search UltraWarm / S3-backed storage": {
        "usd_per_gb_month": 0.024, "source": "https://cloudburn.io/blog/amazon-opensearch-pricing",
        "date": "2026-03 (us-east-1)"},
    "S3 Standard (snapshots)": {
        "usd_per_gb_month": 0.023, "source": "https://costnimbus.com/article/s3-storage-classes-cost-guide",
        "date": "2026-03 (us-east-1, first 50 TB)"},
    "S3 Glacier Deep Archive (archive past retention)": {
        "usd_per_gb_month": 0.00099, "source": "https://costnimbus.com/article/s3-storage-classes-cost-guide",
        "date": "2026-03 (us-east-1; 180-day minimum, restore in up to 12 h)"},
}
GB = 1e9


def _load(name: str) -> dict[str, Any] | None:
    path = BENCH_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def gateway_rps(endtoend: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """The best median requests/s of a gateway target in an endtoend result, with its CPU per request."""
    best: tuple[float, dict[str, Any]] = (0.0, {})
    for target, by_connections in endtoend.get("summary", {}).items():
        if not target.startswith("gateway"):
            continue
        for connections, figures in by_connections.items():
            rps = float(figures.get("rps") or 0)
            if rps > best[0]:
                best = (rps, {"target": target, "connections": connections,
                              "server_cpu_us_per_req": figures.get("server_cpu_us_per_req"),
                              "loadavg1": figures.get("loadavg1")})
    return best


def compute() -> dict[str, Any]:
    """The cost tables from the result files present."""
    out: dict[str, Any] = {"machine": machine(), "prices": PRICES, "storage_prices": STORAGE_PRICES,
                           "command": ".venv/bin/python -m benchmarks.costs"}
    endtoend = _load("endtoend-cost")
    if endtoend:
        rps, where = gateway_rps(endtoend)
        out["throughput"] = {"requests_per_s": rps, **where, "cores": endtoend.get("machine", {}).get("cpus")}
        cpu_s = (where.get("server_cpu_us_per_req") or 0) / 1e6
        out["per_million"] = {
            name: {"at_measured_rate": round(p["usd_per_hour"] / (rps * 3600) * 1e6, 4) if rps else None,
                   "by_cpu_time": round(cpu_s * 1e6 / 3600 * p["usd_per_hour"] / p["vcpus"], 4) if cpu_s else None}
            for name, p in PRICES.items() if p["gpu"] is None}
    quant = _load("quantisation")
    if quant:
        p50 = quant["bundles"][0]["variants"]["onnx enable_all"]["single_row_p50_us"]
        per_core = 1e6 / p50
        out["model_only"] = {"single_row_p50_us": p50, "decisions_per_core_s": round(per_core),
                             "usd_per_million_on_one_core": {
                                 name: round(p["usd_per_hour"] / p["vcpus"] / (per_core * 3600) * 1e6, 6)
                                 for name, p in PRICES.items()}}
    storage = _load("storage-cost")
    if storage:
        rows = {}
        for volume, r in storage["extrapolated"]["by_volume"].items():
            gb = r["events_retention_one_replica_bytes"] / GB
            primary = r["events_retention_primary_bytes"] / GB
            rows[volume] = {"hot_gb_one_replica": round(gb, 2),
                            "hot_usd_month": round(gb * 0.10, 2),
                            "snapshot_s3_usd_month": round(primary * 0.023, 2),
                            "deep_archive_usd_per_retention_period_kept_a_year": round(primary * 0.00099 * 12, 2)}
        out["storage"] = rows
    return out


def markdown(data: dict[str, Any]) -> str:
    """The report."""
    lines = ["# Costs from the measured figures\n",
             "List prices: on-demand, Linux, us-east-1, as quoted by the sources below on the dates given; "
             "check the provider's page before buying.\n"]
    lines.append(md_table(["instance", "USD/h", "vCPU", "memory GiB", "GPU", "source, date"],
                          [[n, p["usd_per_hour"], p["vcpus"], p["memory_gib"], p["gpu"] or "-",
                            f"{p['source']} ({p['date']})"] for n, p in data["prices"].items()]))
    if "throughput" in data:
        t = data["throughput"]
        lines.append(f"\nGateway measured (`endtoend-cost.md`): {t['requests_per_s']:,.0f} requests/s ({t['target']}, "
                     f"{t['connections']} connections) on {t['cores']} cores shared with wrk, Redis and "
                     f"Elasticsearch, load average {t['loadavg1']}; {t['server_cpu_us_per_req']:,.0f} µs of gateway "
                     "CPU per request.\n")
        lines.append(md_table(["instance", "USD per million scored applications, at the measured rate",
                               "USD per million, by gateway CPU time (all cores serving)"],
                              [[n, f"{v['at_measured_rate']:.4f}", f"{v['by_cpu_time']:.4f}"]
                               for n, v in data["per_million"].items()]))
    if "model_only" in data:
        m = data["model_only"]
        lines.append(f"\nModel alone (`quantisation.md`, default bundle): {m['single_row_p50_us']} µs a decision, "
                     f"{m['decisions_per_core_s']:,} decisions per core-second.\n")
        lines.append(md_table(["instance", "USD per million decisions, model time only, one core"],
                              [[n, f"{v:.6f}"] for n, v in m["usd_per_million_on_one_core"].items()]))
    if "storage" in data:
        lines.append("\nEvents kept 90 days (`storage-cost.md`), per month:\n")
        lines.append(md_table(["applications a day", "hot GB (1 replica)", "hot storage USD/month",
                               "same as S3 snapshot USD/month", "Deep Archive, USD per 90-day batch kept a year"],
                              [[f"{int(v):,}", r["hot_gb_one_replica"], r["hot_usd_month"],
                                r["snapshot_s3_usd_month"], r["deep_archive_usd_per_retention_period_kept_a_year"]]
                               for v, r in data["storage"].items()]))
        lines.append("\n" + md_table(["storage", "USD per GB-month", "source, date"],
                                     [[n, p["usd_per_gb_month"], f"{p['source']} ({p['date']})"]
                                      for n, p in data["storage_prices"].items()]))
    lines.append(f"\nCommand: `{data['command']}`\n")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    data = compute()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    (BENCH_DIR / "costs.json").write_text(json.dumps(data, indent=2) + "\n")
    text = markdown(data)
    (BENCH_DIR / "costs.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
