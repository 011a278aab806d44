"""Shadow scoring's cost: the answer's latency with and without a challenger, gateway and indexer on one box.

The challenger is scored by the indexer, after the answer is sent, so the
gateway's request path is the same code either way; what can change the answer
is the indexer's extra CPU on the same cores. This runs the gateway
(``--workers`` processes) and one indexer (Elasticsearch on a throw-away index
prefix), then wrk at ``--connections`` for ``--duration`` s twice per round:
once with no challenger published, once with a challenger (a copy of the
bundle) published and ``SHADOW_RATE=--rate``. Rounds alternate the order.
Writes ``docs/results/shadow.{json,md}``: req/s, p50 and p99 of each run, the
indexer's CPU per event and how many stored events carry a shadow score.

Usage:
    .venv/bin/python -m benchmarks.shadow [--connections 32] [--duration 10] [--rounds 2] [--rate 0.1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import redis

from benchmarks.common import (
    BENCH_API_KEY,
    VENV_PY,
    Server,
    bundle_dir,
    bundle_info,
    drop_streams,
    free_port,
    log,
    machine,
    md_table,
    median,
    renamed_bundle,
    write_results,
)
from benchmarks.payloads import ensure_payloads
from benchmarks.servers import REDIS_URL, gateway
from benchmarks.wrk import run_wrk
from shared.champion import CHALLENGER_CHANNEL, CHALLENGER_KEY, ChampionNotice

ES_URL = os.environ.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200")



def _publish(client: redis.Redis, bundle: Path | None) -> None:
    notice = ChampionNotice("2", bundle.as_uri(), "challenger") if bundle else ChampionNotice("", "", "challenger")
    if bundle:
        client.set(CHALLENGER_KEY, notice.to_json())
    else:
        client.delete(CHALLENGER_KEY)
    client.publish(CHALLENGER_CHANNEL, notice.to_json())
    time.sleep(2.0)  # the indexer loads (or drops) it


def _count(prefix: str, shadowed: bool) -> int:
    query = {"query": {"exists": {"field": "shadow.probability"}}} if shadowed else {"query": {"match_all": {}}}
    request = urllib.request.Request(f"{ES_URL}/{prefix}-events-*/_count", data=json.dumps(query).encode(),
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(f"{ES_URL}/{prefix}-events-*/_refresh", data=b"", timeout=30).close()
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(json.loads(response.read())["count"])


def _drop(prefix: str) -> None:
    """Delete the run's indices by name (wildcard deletes are refused by default)."""
    from shared.store.elastic import ElasticsearchEventStore

    try:
        store = ElasticsearchEventStore(ES_URL, prefix)
        store.drop_all()
        store.close()
    except Exception as exc:  # a result must not be lost to a clean-up failure
        log(f"could not drop {prefix}-*: {exc}")


def main(argv: list[str] | None = None) -> int:
    """Run the interleaved rounds, write the result files."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=0.1, help="SHADOW_RATE of the indexer")
    args = parser.parse_args(argv)
    bodies = ensure_payloads()["applications"]
    client = redis.Redis.from_url(REDIS_URL)
    scratch = Path(tempfile.mkdtemp(prefix="bench-shadow-"))
    prefix = f"bench-shadow-{uuid.uuid4().hex[:6]}"
    stream = f"bench:shadow:{prefix}"
    challenger = renamed_bundle(scratch, f"{bundle_info()['version']}-challenger")
    port = free_port()
    runs: dict[str, list[dict[str, Any]]] = {"no challenger": [], "challenger": []}
    indexer_cpu: dict[str, list[float]] = {"no challenger": [], "challenger": []}
    env = {"REDIS_URL": REDIS_URL, "ELASTICSEARCH_URL": ES_URL, "ES_INDEX_PREFIX": prefix, "EVENTS_STREAM": stream,
           "MODEL_DIR": str(bundle_dir()), "SHADOW_RATE": str(args.rate), "BUNDLE_CACHE_DIR": str(scratch / "cache"),
           "SPOOL_DIR": str(scratch / "spool"), "LOG_LEVEL": "WARNING"}
    indexer = Server("shadow-indexer", [str(VENV_PY), "-m", "worker", "indexer"], env)
    try:
        _publish(client, None)
        with gateway(port, workers=args.workers, stream=stream) as server, indexer:
            url = f"http://127.0.0.1:{port}"
            for round_ in range(args.rounds):
                order = ["no challenger", "challenger"] if round_ % 2 == 0 else ["challenger", "no challenger"]
                for name in order:
                    _publish(client, challenger if name == "challenger" else None)
                    cpu = indexer.cpu_seconds()
                    result = run_wrk(url, bodies, args.connections, args.duration, api_key=BENCH_API_KEY,
                                     server=server)
                    time.sleep(3.0)  # the indexer catches up before its CPU is read
                    indexer_cpu[name].append((indexer.cpu_seconds() - cpu) / max(1, result["requests"]) * 1e6)
                    runs[name].append(result)
                    log(f"{name}: {result['rps']} req/s, p99 {result['p99_ms']} ms")
            stored, shadowed = _count(prefix, False), _count(prefix, True)
    finally:
        _publish(client, None)
        drop_streams(stream)
        _drop(prefix)
        shutil.rmtree(scratch, ignore_errors=True)
    summary = {name: {"rps": median(r["rps"] for r in rs), "p50_ms": median(r["p50_ms"] for r in rs),
                      "p99_ms": median(r["p99_ms"] for r in rs), "non_2xx": sum(r["non_2xx"] for r in rs),
                      "indexer_cpu_us_per_event": round(median(indexer_cpu[name]), 1)}
               for name, rs in runs.items()}
    data = {"machine": machine(), "bundle": bundle_info(), "args": vars(args), "runs": runs, "summary": summary,
            "events_stored": stored, "events_shadowed": shadowed}
    rows = [(name, s["rps"], s["p50_ms"], s["p99_ms"], s["non_2xx"], s["indexer_cpu_us_per_event"])
            for name, s in summary.items()]
    markdown = "\n".join([
        "# Shadow scoring: the answer with and without a challenger",
        "",
        f"Gateway with {args.workers} uvicorn processes and one indexer on the same 2 cores, wrk at "
        f"{args.connections} connections, {args.rounds} interleaved rounds of {args.duration} s per variant "
        f"(medians); SHADOW_RATE {args.rate}; load average at the end {data['machine']['loadavg']}.",
        "",
        md_table(["variant", "req/s", "p50 ms", "p99 ms", "non-2xx", "indexer CPU µs per event"], rows),
        f"Events stored: {stored:,}; with a shadow score: {shadowed:,}.",
        "",
        "Command: `.venv/bin/python -m benchmarks.shadow " + " ".join(argv or []) + "`",
        "",
    ])
    write_results("shadow", data, markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
