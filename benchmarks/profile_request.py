"""Profile the request path of ``POST /v1/score`` in-process: per-stage costs and a full profile.

Two views, both without the network (so the figures are the gateway's own CPU):

1. stages: median microseconds per application of each step, over the payload pool:
   validation (``model_validate_json``), encoding, inference (ONNX), the event
   (pseudonym, document, ``publish`` = orjson + queue append), the answer (orjson);
2. the whole ASGI app (middleware, auth, routing, the route, the event hand-off)
   driven in-process for ``--requests`` requests, its CPU microseconds per request
   (the hand-off's included: the event loop's own sender once it is active, as in a
   server, the loop yielding after each request as a server's does between them),
   under cProfile (top functions) and pyinstrument (HTML), saved to results/profile/.

The events go to a real Redis when ``REDIS_URL`` answers (the loop's sender and the
publisher thread run, as in production), else to fakeredis. The HTTP server's share (uvicorn + httptools)
is what the live figures of ``benchmarks.http`` add on top.

Usage:
    .venv/bin/python -m benchmarks.profile_request [--requests 3000] [--tag NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from benchmarks.common import BENCH_API_KEY, RESULTS, bundle_dir, bundle_info, drop_streams, log, machine, write_results
from benchmarks.payloads import ensure_payloads

PROFILE_DIR = RESULTS / "profile"


def _per_call_us(fn: Any, items: list[Any], rounds: int = 5) -> float:
    """Median over ``rounds`` of the mean CPU microseconds of ``fn(item)`` over the items.

    CPU time (``process_time``), not wall time: on a shared machine the wall clock
    also counts the time other processes held the core.
    """
    for item in items[:50]:
        fn(item)
    samples = []
    for _ in range(rounds):
        start = time.process_time()
        for item in items:
            fn(item)
        samples.append((time.process_time() - start) / len(items) * 1e6)
    return round(statistics.median(samples), 1)


def stage_costs(bodies: list[bytes]) -> dict[str, float]:
    """Median µs per application of each step of the sync path."""
    from shared.encoding import encode
    from shared.event import ScoringEvent, Timings, pseudonymise
    from shared.schema import LoanApplication
    from shared.scorer import Scorer

    scorer = Scorer.load(bundle_dir())
    state = scorer.state
    models = [LoanApplication.model_validate_json(b) for b in bodies]
    features = [m.__dict__.copy() for m in models]
    for f in features:
        f.pop("SK_ID_CURR")
    matrices = [encode([f], state) for f in features]
    sent: list[bytes] = []

    def event(f: dict[str, Any]) -> None:
        # what the sync path does per application: the event, then the publisher's orjson of the dataclass
        event = ScoringEvent(path="sync", status="ok", model_version="v", request_id="r",
                             client_ref=pseudonymise(100002, "key"), features=f, score=0.1,
                             decision="approved", threshold=0.3, timings=Timings(0.1, None, 0.2, 0.3))
        sent.append(orjson.dumps(event, option=orjson.OPT_SERIALIZE_NUMPY))

    answer = {"request_id": "0" * 32, "probability": 0.1234, "decision": "approved", "threshold": 0.36,
              "model_version": "v", "timings": {"validation_ms": 0.05, "inference_ms": 0.1, "total_ms": 0.2}}
    costs = {
        "validation": _per_call_us(LoanApplication.model_validate_json, bodies),
        "encoding": _per_call_us(lambda f: encode([f], state), features),
        "inference_onnx": _per_call_us(scorer.predict_proba, matrices),
        "scorer.score (encoding + inference + result)": _per_call_us(scorer.score, features),
        "event (pseudonym + dataclass + orjson)": _per_call_us(event, features),
        "answer (orjson)": _per_call_us(lambda _: orjson.dumps(answer), features),
    }
    costs.update(asyncio.run(_telemetry_costs(features)))
    return costs


async def _telemetry_costs(items: list[Any]) -> dict[str, float]:
    """The access line and the metrics of one request, measured on an event loop (where the gateway runs them).

    The access line goes to the root JSON handler that ``configure_logging`` installs (stderr: run the
    command with ``2>/dev/null`` or a file to keep the terminal out of the figure); the metrics are
    multi-process files when ``PROMETHEUS_MULTIPROC_DIR`` is set before the command starts (as with
    ``WEB_CONCURRENCY`` > 1), else in-memory values.
    """
    import logging

    from gateway.metrics import GatewayMetrics
    from shared.logs import configure_logging

    configure_logging("INFO")
    fields = {"request_id": "0" * 32, "method": "POST", "route": "/v1/score", "path": "/v1/score", "status": 200,
              "duration_ms": 1.234}
    try:
        from gateway.logs import AccessLog  # type: ignore[attr-defined]

        write = AccessLog().write
    except ImportError:  # a revision that logs the line through logging
        access = logging.getLogger("gateway.access")

        def write(extra: dict[str, Any]) -> None:
            access.info("request", extra=extra)

    metrics = GatewayMetrics()

    def observe(_: Any) -> None:
        metrics.observe_request("/v1/score", "POST", 200, 0.0042)
        metrics.observe_scores("sync", [0.1234], ["approved"])

    return {"access line (serialise + write)": _per_call_us(lambda _: write(dict(fields)), items),
            "metrics (request, latency, score, decision)": _per_call_us(observe, items)}


class _AsgiDriver:
    """Calls an ASGI app in-process (lifespan, then requests), no sockets."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._lifespan_in: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._lifespan_out: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._task = asyncio.create_task(self.app(scope, self._lifespan_in.get, self._lifespan_out.put))
        await self._lifespan_in.put({"type": "lifespan.startup"})
        message = await self._lifespan_out.get()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"lifespan start-up failed: {message}")

    async def stop(self) -> None:
        await self._lifespan_in.put({"type": "lifespan.shutdown"})
        await self._lifespan_out.get()
        if self._task:
            await self._task

    async def post(self, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "root_path": "", "headers": [*headers, (b"content-length", str(len(body)).encode())],
                 "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {}}
        sent = False
        status, chunks = 0, []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


class NullPublisher:
    """A publisher that drops events (to isolate the hand-off's cost)."""

    def start(self) -> None:
        """Nothing to start."""

    def publish(self, event: Any) -> bool:
        """Drop the event."""
        return True

    def flush(self, timeout: float = 0) -> bool:
        """Nothing to flush."""
        return True

    def stats(self) -> dict[str, Any]:
        """Nothing published."""
        return {"pending": 0, "spooled": 0, "dropped": 0, "published": 0, "redis_ok": True, "last_error": None}

    def close(self, timeout: float = 0) -> None:
        """Nothing to close."""


async def _drive(bodies: list[bytes], n: int, profile: str | None, tag: str,
                 null_publisher: bool = False) -> dict[str, Any]:
    import os

    from gateway.app import create_app
    from gateway.settings import GatewaySettings

    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    from redis import Redis

    try:
        Redis.from_url(redis_url, socket_timeout=1).ping()
    except Exception:
        redis_url = None  # type: ignore[assignment]
    settings = GatewaySettings(redis_url=redis_url, model_dir=bundle_dir(), api_keys=[BENCH_API_KEY],
                               events_stream="bench:profile-events", events_stream_maxlen=50_000,
                               spool_dir=RESULTS / "bench" / "spool" / "profile", log_level="WARNING")
    app = create_app(settings, publisher_factory=(lambda *_: NullPublisher()) if null_publisher else None)
    if redis_url:
        drop_streams("bench:profile-events", redis_url=redis_url)  # a run cut short leaves it behind, at its cap
    driver = _AsgiDriver(app)
    await driver.start()
    headers = [(b"content-type", b"application/json"), (b"x-api-key", BENCH_API_KEY.encode())]
    try:
        for body in bodies[:200]:  # warm-up
            status, answer = await driver.post("/v1/score", body, headers)
            if status != 200:
                raise RuntimeError(f"warm-up answer {status}: {answer[:300]!r}")
        out: dict[str, Any] = {"redis": bool(redis_url), "events": "dropped" if null_publisher else "published"}
        cpu, wall = [], []
        publisher = app.state.resources.publisher
        if not null_publisher and redis_url:  # as in a server at rest: the loop sends the events itself
            deadline = time.monotonic() + 10
            while not publisher.loop_active and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        for _ in range(3):
            publisher.flush(30)
            start, start_cpu = time.perf_counter(), time.process_time()
            for i in range(n):
                await driver.post("/v1/score", bodies[i % len(bodies)], headers)
                await asyncio.sleep(0)  # the loop's callbacks between requests, as a server runs them
            publisher.flush(30)  # the hand-off's work (the loop's sender, or the thread's) is part of the cost
            cpu.append((time.process_time() - start_cpu) / n * 1e6)
            wall.append((time.perf_counter() - start) / n * 1e6)
        # which path the events took: a loop that never yields, or a failure, leaves them to the thread
        out["events_via"] = "event loop" if getattr(publisher, "loop_active", False) else "publisher thread"
        out["asgi_cpu_us_per_request"] = round(statistics.median(cpu), 1)
        out["asgi_wall_us_per_request"] = round(statistics.median(wall), 1)
        if profile in ("cprofile", "both"):
            prof = cProfile.Profile(time.thread_time)  # CPU of this thread: not the waits
            prof.enable()
            for i in range(n):
                await driver.post("/v1/score", bodies[i % len(bodies)], headers)
            prof.disable()
            text = io.StringIO()
            pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(45)
            path = PROFILE_DIR / f"cprofile-{tag}.txt"
            path.write_text(text.getvalue())
            text = io.StringIO()
            pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(30)
            (PROFILE_DIR / f"cprofile-{tag}-tottime.txt").write_text(text.getvalue())
            out["cprofile"] = str(path)
        if profile in ("pyinstrument", "both"):
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0002, async_mode="disabled")
            profiler.start()
            for i in range(n):
                await driver.post("/v1/score", bodies[i % len(bodies)], headers)
            profiler.stop()
            (PROFILE_DIR / f"pyinstrument-{tag}.html").write_text(profiler.output_html())
            (PROFILE_DIR / f"pyinstrument-{tag}.txt").write_text(profiler.output_text(unicode=False, color=False,
                                                                                      show_all=False))
            out["pyinstrument"] = str(PROFILE_DIR / f"pyinstrument-{tag}.txt")
        return out
    finally:
        await driver.stop()
        if redis_url:
            drop_streams("bench:profile-events", redis_url=redis_url)


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="requests per timed pass")
    parser.add_argument("--profile", choices=["cprofile", "pyinstrument", "both", "none"], default="both")
    parser.add_argument("--null-publisher", action="store_true", help="drop the events (hand-off cost apart)")
    parser.add_argument("--tag", default="current", help="suffix of the output files (before/after...)")
    args = parser.parse_args(argv)
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    bodies = [line.rstrip(b"\n") for line in Path(ensure_payloads()["applications"]).open("rb")][:1000]
    log(f"stage costs over {len(bodies)} applications ...")
    stages = stage_costs(bodies)
    log(f"whole ASGI app, {args.requests} requests x 3 ...")
    import uvloop

    asgi = uvloop.run(_drive(bodies, args.requests, None if args.profile == "none" else args.profile, args.tag,
                                args.null_publisher))
    data = {"tag": args.tag, "machine": machine(), "bundle": bundle_info(), "stages_us": stages, "asgi": asgi,
            "command": " ".join([".venv/bin/python -m benchmarks.profile_request", *(argv or sys.argv[1:])])}
    lines = [f"# Request-path profile ({args.tag})\n", f"Bundle {data['bundle']['version']}, load average "
             f"{data['machine']['loadavg']}\n", "| step | µs per application |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in stages.items()]
    lines.append(f"| whole ASGI app (no HTTP server), events via the {asgi.get('events_via', 'publisher thread')} "
                 f"| {asgi['asgi_cpu_us_per_request']} |")
    write_results(f"profile-{args.tag}", data, "\n".join(lines) + "\n")
    print(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
