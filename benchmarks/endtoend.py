"""End-to-end HTTP benchmark: ``POST /v1/score`` against the floor, the usual peer setup and MLServer.

All servers run on this machine at once, on loopback ports, and are measured in the
same run, interleaved (repeat 1: every target at every concurrency, then repeat 2...),
so that a burst of load from elsewhere does not favour one of them. The load
generator is wrk (one thread, keep-alive connections, a Lua script cycling through
the payload pool); each figure is the median over the repeats.

Targets (``--targets``):

- ``gateway``: ``python -m gateway`` (WEB_CONCURRENCY=1) with the real Redis; every
  scored application's event is handed off to a Redis Stream (checked: events added
  per run, from ``XINFO STREAM``'s entries-added);
- ``gateway-w2``: the same with WEB_CONCURRENCY=2;
- ``floor`` / ``floor-w2``: a bare FastAPI endpoint taking the same body (same uvicorn settings);
- ``pandas-sklearn``: the usual peer service (``benchmarks.apps.baseline``);
- ``gateway-granian`` / ``gateway-granian-w2``: the same gateway with ``HTTP_SERVER=granian``
  (granian's Rust HTTP server, the app on uvloop) instead of uvicorn (uvloop, httptools), side by side;
- ``floor-granian-w2``: the bare FastAPI endpoint under granian too (2 workers), for the same comparison;
- ``mlserver-tuned``: MLServer 1.7.1 with its LightGBM runtime serving the bundle's ``model.txt``
  at its best settings for one small model here: ``parallel_workers: 0`` (inference in the
  server process), ``OMP_NUM_THREADS=1`` (LightGBM's OpenMP threads spin and wait for each
  other on a busy 2-core machine), ``gzip_enabled: false``, ``metrics_endpoint: null``, httptools
  installed in its venv; V2 REST, bodies of already-encoded features (it does no validation,
  no encoding, no calibration, records no event);
- ``mlserver-defaults``: the same model with MLServer's defaults (one inference worker process,
  gzip and metrics middlewares, OpenMP threads), reported apart; when it does not start here,
  the run records that and goes on;
- ``mlserver`` / ``mlserver-omp1``: the earlier variants (``parallel_workers: 0``, without / with
  one OpenMP thread).
  The comparison with the gateway takes the best MLServer figure of the run.

MLServer lives in ``.bench-venv`` (git-ignored), created on first use with this interpreter
(``pip install mlserver==1.7.1 mlserver-lightgbm==1.7.1 httptools uvloop==0.21.0``: its pins conflict
with ours; with a newer uvloop its default inference worker process does not start).
wrk is checked for first (``apt-get install -y wrk`` when missing, as root).

Usage:
    .venv/bin/python -m benchmarks.endtoend [--targets gateway,floor,...] [--connections 8,32,64]
        [--duration 10] [--repeats 3] [--env KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.request
from typing import Any

import orjson

from benchmarks.common import (
    BENCH_API_KEY,
    RESULTS,
    Server,
    bundle_info,
    free_port,
    log,
    machine,
    md_table,
    median,
    write_results,
)
from benchmarks.payloads import ensure_payloads
from benchmarks.servers import (
    MLSERVER_MODEL,
    MLSERVER_TUNED,
    REDIS_URL,
    baseline,
    floor,
    floor_granian,
    gateway,
    gateway_granian,
    mlserver,
    mlserver_available,
    mlserver_repository,
)
from benchmarks.wrk import ensure_wrk, run_wrk

ALL_TARGETS = ("gateway", "gateway-w2", "gateway-granian", "gateway-granian-w2", "floor", "floor-w2",
               "floor-granian-w2", "pandas-sklearn", "mlserver-tuned", "mlserver-defaults", "mlserver", "mlserver-omp1")
DEFAULT_TARGETS = ("gateway,gateway-w2,gateway-granian,gateway-granian-w2,floor,floor-w2,floor-granian-w2,"
                   "pandas-sklearn,"
                   "mlserver-tuned,mlserver-defaults")
FIGURES = ("rps", "p50_ms", "p90_ms", "p99_ms", "server_cpu_us_per_req", "wrk_cpu_pct", "loadavg1")


class Target:
    """One server under test and how to post to it."""

    def __init__(self, name: str, server: Server, port: int, path: str, bodies: str, api_key: str | None,
                 stream: str | None = None) -> None:
        self.name, self.server, self.port, self.path = name, server, port, path
        self.bodies, self.api_key, self.stream = bodies, api_key, stream

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def check(self) -> dict[str, Any]:
        """One request by hand: the answer must be 200 and JSON."""
        with open(self.bodies, "rb") as f:
            body = f.readline().strip()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        request = urllib.request.Request(self.url + self.path, data=body, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return orjson.loads(response.read())  # type: ignore[no-any-return]


def _entries_added(stream: str) -> int:
    from redis import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        return int(client.xinfo_stream(stream).get("entries-added", 0))
    except Exception:
        return 0
    finally:
        client.close()


def _reset_stream(stream: str) -> None:
    from redis import Redis

    client = Redis.from_url(REDIS_URL)
    client.delete(stream)
    client.close()


def build_targets(names: list[str], env: dict[str, str]) -> list[Target]:
    """The servers to start, each on a free port."""
    paths = ensure_payloads()
    apps, v2 = str(paths["applications"]), str(paths["v2_inputs"])
    targets = []
    for name in names:
        port = free_port()
        if name.startswith("gateway"):
            if name not in ALL_TARGETS:
                raise SystemExit(f"unknown target {name!r}; choose from {', '.join(ALL_TARGETS)}")
            stream = f"bench:events:{name}"
            _reset_stream(stream)
            make = gateway_granian if "granian" in name else gateway
            server = make(port, 2 if "-w2" in name else 1, stream=stream, **env)
            targets.append(Target(name, server, port, "/v1/score", apps, BENCH_API_KEY, stream))
        elif name in ("floor", "floor-w2"):
            targets.append(Target(name, floor(port, 2 if name.endswith("w2") else 1), port, "/v1/score", apps, None))
        elif name == "floor-granian-w2":
            targets.append(Target(name, floor_granian(port, 2), port, "/v1/score", apps, None))
        elif name == "pandas-sklearn":
            targets.append(Target(name, baseline(port), port, "/v1/score", apps, None))
        elif name in ("mlserver-tuned", "mlserver-defaults", "mlserver", "mlserver-omp1"):
            if not mlserver_available():
                log("MLServer's venv (.bench-venv) could not be made: mlserver skipped (see docs/optimisation.md)")
                continue
            port = free_port()
            settings: dict[str, Any] | None = {
                "mlserver-tuned": MLSERVER_TUNED, "mlserver-defaults": None,
                "mlserver": {"parallel_workers": 0}, "mlserver-omp1": {"parallel_workers": 0},
            }[name]
            repository = mlserver_repository(RESULTS / "bench" / "mlserver" / name, settings)
            extra = {"OMP_NUM_THREADS": "1"} if name in ("mlserver-tuned", "mlserver-omp1") else {}
            server = mlserver(port, repository, **extra)
            targets.append(Target(name, server, port, f"/v2/models/{MLSERVER_MODEL}/infer", v2, None))
        else:
            raise SystemExit(f"unknown target {name!r}; choose from {', '.join(ALL_TARGETS)}")
    return targets


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Median of each figure per target and concurrency."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for run in runs:
        out.setdefault(run["target"], {}).setdefault(str(run["connections"]), {})
    for target, by_c in out.items():
        for c in by_c:
            mine = [r for r in runs if r["target"] == target and str(r["connections"]) == c]
            by_c[c] = {k: round(median(r.get(k) for r in mine), 3) for k in FIGURES}
            by_c[c]["non_2xx"] = sum(r["non_2xx"] for r in mine)
            by_c[c]["socket_errors"] = sum(r["socket_errors"] for r in mine)
            if any("events_added" in r for r in mine):
                by_c[c]["events_added"] = sum(r.get("events_added", 0) for r in mine)
                by_c[c]["requests"] = sum(r["requests"] for r in mine)
    return out


def verdicts(summary: dict[str, Any], at: str = "32") -> dict[str, Any]:
    """The service's performance targets at ``at`` connections, for the gateway's best configuration under
    uvicorn (the default ``HTTP_SERVER``) and under granian.

    The floor is the bare FastAPI app under uvicorn (uvloop, httptools), as the targets define it;
    ``vs_floor_any_server`` divides by the best floor of the run, granian's included. The MLServer
    ratio uses the best MLServer figure of the run.
    """
    def rps(prefix: str, exclude: str = "@") -> list[float]:
        return [v[at]["rps"] for k, v in summary.items() if k.startswith(prefix) and exclude not in k and at in v]

    mlservers = {k: v[at]["rps"] for k, v in summary.items() if k.startswith("mlserver") and at in v}
    out: dict[str, Any] = {"best_mlserver": max(mlservers, key=lambda k: mlservers[k]) if mlservers else None}
    for server in ("uvicorn", "granian"):
        gateways = {k: v[at] for k, v in summary.items() if k.startswith("gateway") and at in v
                    and (("granian" in k) == (server == "granian"))}
        if not gateways:
            continue
        best_name = max(gateways, key=lambda k: gateways[k]["rps"])
        best = gateways[best_name]

        def ratio(others: list[float], best: dict[str, Any] = best) -> float | None:
            return round(best["rps"] / max(others), 2) if others else None

        floor_ratio = ratio(rps("floor", exclude="granian"))
        mlserver_ratio = ratio(list(mlservers.values()))
        out[server] = {
            "gateway_config": best_name, "connections": int(at), "rps": best["rps"], "p99_ms": best["p99_ms"],
            "p99_target_25ms": best["p99_ms"] <= 25, "vs_floor": floor_ratio,
            "vs_floor_target_0.6": floor_ratio is not None and floor_ratio >= 0.6,
            "vs_floor_any_server": ratio(rps("floor")), "vs_pandas_sklearn": ratio(rps("pandas-sklearn")),
            "vs_mlserver": mlserver_ratio, "vs_mlserver_target_2x": mlserver_ratio is not None and mlserver_ratio >= 2,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", default=DEFAULT_TARGETS)
    parser.add_argument("--connections", default="8,32,64")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (max 60)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the gateway (repeatable)")
    parser.add_argument("--name", default="endtoend", help="docs/results/<name>.json|md")
    args = parser.parse_args(argv)
    duration = max(1, min(args.duration, 60))
    connections = [int(c) for c in args.connections.split(",")]
    env = dict(item.split("=", 1) for item in args.env)
    ensure_wrk()
    targets = build_targets([t.strip() for t in args.targets.split(",") if t.strip()], env)
    runs: list[dict[str, Any]] = []
    started = []
    not_started: dict[str, str] = {}
    try:
        for target in list(targets):
            try:
                target.server.start()
            except RuntimeError as exc:  # e.g. MLServer's defaults here: recorded, the others go on
                log(f"{target.name} did not start: {exc}")
                not_started[target.name] = str(exc)
                targets.remove(target)
                continue
            started.append(target)
            log(f"{target.name}: {str(target.check())[:160]}")
            run_wrk(target.url, target.bodies, 8, 2, path=target.path, api_key=target.api_key)  # warm-up
        for repeat in range(args.repeats):
            for target in targets:
                for c in connections:
                    before = _entries_added(target.stream) if target.stream else None
                    run = run_wrk(target.url, target.bodies, c, duration, path=target.path,
                                  api_key=target.api_key, server=target.server)
                    if target.stream and before is not None:
                        time.sleep(0.6)  # the publisher sends within half a second
                        run["events_added"] = _entries_added(target.stream) - before
                    run.update(target=target.name, repeat=repeat)
                    runs.append(run)
                    log(f"[{repeat + 1}/{args.repeats}] {target.name:15s} c={c:3d}: {run['rps']:8.1f} req/s, "
                        f"p50 {run['p50_ms']:.2f} ms, p99 {run['p99_ms']:.2f} ms, "
                        f"cpu {run.get('server_cpu_us_per_req')} us/req, load {run['loadavg1']}")
    finally:
        for target in started:
            target.server.stop()
            if target.stream:
                _reset_stream(target.stream)
    summary = summarise(runs)
    verdict = verdicts(summary)
    command = " ".join([".venv/bin/python -m benchmarks.endtoend", *(argv if argv is not None else sys.argv[1:])])
    data = {"machine": machine(), "bundle": bundle_info(), "duration_s": duration, "repeats": args.repeats,
            "gateway_env": env, "mlserver_tuned_settings": {**MLSERVER_TUNED, "OMP_NUM_THREADS": 1,
                                                            "httptools": True},
            "not_started": not_started, "summary": summary, "targets": verdict, "runs": runs, "command": command}
    rows = [[t, c, f["rps"], f["p50_ms"], f["p90_ms"], f["p99_ms"], f["server_cpu_us_per_req"], f["wrk_cpu_pct"],
             f["loadavg1"], f["non_2xx"] + f["socket_errors"]]
            for t, by_c in summary.items() for c, f in by_c.items()]
    markdown = (f"# End to end: POST /v1/score\n\nBundle `{data['bundle']['version']}` "
                f"({data['bundle']['rows']} rows); {duration} s per run, median of {args.repeats}; "
                f"gateway env {env or 'defaults'}.\n\n"
                + md_table(["target", "connections", "req/s", "p50 ms", "p90 ms", "p99 ms", "server CPU µs/req",
                            "wrk CPU %", "load avg", "errors"], rows)
                + "\nTargets at 32 connections: `" + orjson.dumps(verdict).decode() + "`\n\n"
                + (f"Did not start: {not_started}\n\n" if not_started else "")
                + "MLServer tuned = `" + orjson.dumps(data["mlserver_tuned_settings"]).decode() + "`; "
                "mlserver-defaults = no settings.json. The machine's other load is in the load avg column.\n\n"
                + f"Command: `{command}`\n")
    write_results(args.name, data, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
