"""Where a request's microseconds go: py-spy's samples of the live gateway, sorted into the steps of a request.

Each sample (a stack, root first) goes to the step of its deepest frame that one of the
rules below names, read from the leaf up: a socket ``write`` under uvloop is the response
(or event) write, a frame of ``shared/encoding.py`` is encoding, and so on; a sample no rule
claims is the event loop's own work. Used by ``benchmarks.live_profile`` (``--native``
gives the C frames, so the system calls are seen): each step's share of the samples
times the server's CPU microseconds per request measured in the same run.
"""

from __future__ import annotations

import collections
from pathlib import Path

# (step, function-name prefixes or "file:" names); the first rule whose pattern matches a frame, walking from the
# leaf up, takes the sample. A frame is "function (file)" as py-spy writes it, the line number cut.
SOCKET_WRITES = "socket writes (system calls: the responses, the events)"
_SYSCALLS = ("write (libc", "writev (libc", "send (libc", "sendto (libc", "sendmsg (libc")
_SOCKETS = ("UVStream", "socket.send", "socket.sendall")
RULES: list[tuple[str, tuple[str, ...]]] = [
    ("event serialisation and hand-off to Redis", ("EventPublisher.", "LoopSender.", "_Connection.", "_Sent.",
                                                   "file:stream_sender.py", "file:publisher.py", "Pipeline.",
                                                   "Redis.", "Connection.", "file:connection.py", "file:client.py")),
    ("validation (pydantic)", ("ScoringCore.parse_one", "BaseModel.model_validate_json", "split_validated")),
    ("encoding", ("file:encoding.py",)),
    ("inference (ONNX Runtime)", ("Scorer.predict_proba", "Session.run", "file:onnxruntime")),
    ("calibration and result", ("Scorer.", "Calibration.", "ScoreResult")),
    ("event building (pseudonym, document)", ("EventBuilder.", "Pseudonymiser.", "pseudonymise", "file:hmac.py",
                                             "ScoringEvent", "utc_now_iso", "file:libcrypto", "new_id")),
    ("answer (dict, orjson, response)", ("score_answer", "timings_answer", "OrjsonResponse", "Response.",
                                         "file:responses.py")),
    ("access log", ("AccessLog.", "file:logs.py")),
    ("metrics", ("GatewayMetrics.", "ScoringCore._observe", "file:metrics.py")),
    ("scoring core (timings, glue)", ("ScoringCore.", "ScoringService.", "ms_since", "file:core.py")),
    ("score handler (body read, routing to it)", ("ScoreEndpoint.", "read_body", "Request.", "HTTPConnection.",
                                                 "scoring_of", "explain_param", "file:requests.py",
                                                 "file:fastpath.py")),
    ("request middleware (id, key, timing)", ("RequestContextMiddleware", "read_headers", "file:middleware.py")),
    ("framework layers (FastAPI, Starlette, telemetry)", ("FastAPI.", "Starlette.", "ServerErrorMiddleware",
                                                          "ExceptionTelemetryMiddleware", "AppBodyLimitMiddleware",
                                                          "NativeTelemetry", "file:opentelemetry", "file:<frozen os>",
                                                          "file:<frozen _collections_abc>", "file:_asgi.py",
                                                          "file:applications.py", "file:errors.py")),
    ("HTTP server (uvicorn, httptools)", ("RequestResponseCycle.", "HttpToolsProtocol.", "file:httptools_impl.py",
                                          "GatewayHttpProtocol.", "_DirectScore",
                                          "file:parser.c", "file:llhttp", "file:api.c", "file:flow_control.py")),
]
LOOP = "event loop, tasks and the rest"


def _matches(frame: str, pattern: str) -> bool:
    if pattern.startswith("file:"):
        name, _, where = frame.partition(" (")
        return pattern[5:] in where
    return frame.startswith(pattern)


def step_of(frames: list[str]) -> str:
    """The step a sample (frames root first, as ``function (file)``) belongs to.

    A write system call on a socket (under uvloop's stream or a Python socket) is a step of its own;
    one on a file (the log) belongs to what made it.
    """
    if frames and frames[-1].startswith(_SYSCALLS) and any(f.startswith(_SOCKETS) for f in frames):
        return SOCKET_WRITES
    for frame in reversed(frames):
        for step, patterns in RULES:
            if any(_matches(frame, p) for p in patterns):
                return step
    return LOOP


def budget(raw: Path, frame_of: object) -> tuple[dict[str, int], int]:
    """Samples per step of a py-spy raw (collapsed stacks) file, and the total.

    Args:
        raw: the ``py-spy record --format raw`` output.
        frame_of: turns one raw frame into ``function (file)`` (``benchmarks.live_profile._frame``).
    """
    steps: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [frame_of(f) for f in stack.split(";")]  # type: ignore[operator]
        steps[step_of(frames)] += int(count)
        total += int(count)
    return dict(steps), total


def table(steps: dict[str, int], total: int, cpu_us_per_request: float | None) -> list[tuple[str, float, float | None]]:
    """``(step, % of samples, µs per request)`` in the order of :data:`RULES`, the loop last."""
    order = [SOCKET_WRITES] + [step for step, _ in RULES] + [LOOP]
    rows = []
    for step in order:
        share = 100.0 * steps.get(step, 0) / total if total else 0.0
        us = round(share / 100.0 * cpu_us_per_request, 1) if cpu_us_per_request else None
        rows.append((step, round(share, 1), us))
    return rows
