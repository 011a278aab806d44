"""The access line written without logging's machinery, and the metrics folded in from the event loop."""

from __future__ import annotations

import asyncio
import io
import logging
import random
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from gateway.logs import ACCESS_LOGGER, AccessLog, JsonFormatter
from gateway.metrics import LATENCY_BUCKETS, SCORE_BUCKETS, GatewayMetrics
from gateway.middleware import RequestContextMiddleware

FIELDS = {"request_id": "a" * 32, "method": "POST", "route": "/v1/score", "path": "/v1/score", "status": 200,
          "duration_ms": 1.234}


@pytest.fixture
def access_stream() -> Iterator[io.StringIO]:
    """``gateway.access`` alone on a JSON stream handler (pytest's own handlers sit on the root logger)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    saved = logger.handlers[:], logger.propagate, logger.level
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield stream
    logger.handlers[:], logger.propagate = saved[0], saved[1]
    logger.setLevel(saved[2])


def test_the_direct_line_is_the_formatters_line(access_stream: io.StringIO) -> None:
    AccessLog().write(dict(FIELDS))
    logging.getLogger(ACCESS_LOGGER).info("request", extra=dict(FIELDS))
    direct, logged = (orjson.loads(line) for line in access_stream.getvalue().splitlines())
    assert list(direct) == list(logged)  # same keys in the same order
    assert {k: v for k, v in direct.items() if k != "ts"} == {k: v for k, v in logged.items() if k != "ts"}
    assert direct["ts"].endswith("Z") and len(direct["ts"]) == len(logged["ts"])


def test_on_the_event_loop_the_lines_of_one_iteration_are_written_together(access_stream: io.StringIO) -> None:
    logger = logging.getLogger(ACCESS_LOGGER)  # the JSON handler alone (no capture of pytest's): the direct path
    logger.handlers[:] = [h for h in logger.handlers if type(h) is logging.StreamHandler]
    access = AccessLog()
    seen_in_the_iteration: list[str] = []

    async def answer_two_requests() -> None:
        access.write({**FIELDS, "request_id": "1" * 32})
        access.write({**FIELDS, "request_id": "2" * 32})
        seen_in_the_iteration.append(access_stream.getvalue())
        await asyncio.sleep(0)  # the loop's next iteration: the lines are out

    asyncio.run(answer_two_requests())
    lines = [orjson.loads(line) for line in access_stream.getvalue().splitlines()]
    assert seen_in_the_iteration == [""]
    assert [line["request_id"] for line in lines] == ["1" * 32, "2" * 32]
    assert all(line["msg"] == "request" and line["status"] == 200 for line in lines)


def test_the_lines_follow_whichever_loop_runs_and_go_out_at_once_outside_any(access_stream: io.StringIO) -> None:
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.handlers[:] = [h for h in logger.handlers if type(h) is logging.StreamHandler]
    access = AccessLog()
    held: list[str] = []

    async def one_request(request_id: str) -> None:
        access.write({**FIELDS, "request_id": request_id})
        held.append(access_stream.getvalue())  # still waiting for the end of the iteration
        await asyncio.sleep(0)

    asyncio.run(one_request("1" * 32))  # the loop found running is remembered...
    asyncio.run(one_request("2" * 32))  # ...and a later loop on the same thread is found in its turn
    access.write({**FIELDS, "request_id": "3" * 32})  # no loop runs: written at once
    lines = [orjson.loads(line)["request_id"] for line in access_stream.getvalue().splitlines()]
    assert lines == ["1" * 32, "2" * 32, "3" * 32]
    assert [text.count("\n") for text in held] == [0, 1]


@pytest.mark.parametrize(("sample", "draw", "status", "ms", "line"), [
    (1.0, 0.99, 200, 1.0, {}),  # every request logged: no sample_rate
    (0.1, 0.05, 200, 1.0, {"sample_rate": 0.1}),  # an ordinary request drawn
    (0.1, 0.50, 200, 1.0, None),  # an ordinary request not drawn
    (0.1, 0.50, 422, 1.0, {}),  # an error, always
    (0.1, 0.50, 503, 1.0, {}),
    (0.1, 0.50, 200, 25.0, {}),  # a slow request, always
    (0.0, 0.00, 200, 1.0, None),
])
def test_the_access_line_is_sampled_but_for_errors_and_slow_requests(
        access_stream: io.StringIO, monkeypatch: pytest.MonkeyPatch, sample: float, draw: float, status: int,
        ms: float, line: dict[str, Any] | None) -> None:
    metrics = GatewayMetrics()
    middleware = RequestContextMiddleware(None, metrics, 1024, access_log=True, access_log_sample=sample,
                                          access_log_slow_ms=25.0)
    monkeypatch.setattr(random, "random", lambda: draw)
    middleware.record("POST", "/v1/score", "/v1/score", status, ms / 1000.0)
    written = [orjson.loads(text) for text in access_stream.getvalue().splitlines()]
    if line is None:
        assert written == []
    else:
        assert [{k: v for k, v in w.items() if k in ("status", "sample_rate")} for w in written] == [
            {"status": status, **line}]
    metrics.flush()
    assert metrics.requests.labels("/v1/score", "POST", str(status))._value.get() == 1  # counted, line or not


def test_another_listener_gets_a_log_record(access_stream: io.StringIO) -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger(ACCESS_LOGGER)
    access = AccessLog()
    access.write(dict(FIELDS))
    logger.addHandler(Keep())
    access.write(dict(FIELDS))
    assert len(records) == 1 and records[0].request_id == FIELDS["request_id"]  # type: ignore[attr-defined]
    assert len(access_stream.getvalue().splitlines()) == 2  # the JSON handler still wrote both


def test_the_level_is_obeyed(access_stream: io.StringIO) -> None:
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.WARNING)
    AccessLog().write(dict(FIELDS))
    assert access_stream.getvalue() == ""


def _samples(text: bytes) -> list[str]:
    return sorted(line for line in text.decode().splitlines()
                  if line and not line.startswith("#") and "_created" not in line)


def test_metrics_folded_from_the_event_loop_equal_direct_observations() -> None:
    latencies = [0.0004, 0.001, 0.0031, 0.02, 0.7, 9.0, 0.001]
    scores = [0.01, 0.05, 0.5, 0.999, 1.0]
    metrics = GatewayMetrics()

    async def serve() -> None:
        for i, seconds in enumerate(latencies):
            metrics.observe_request("/v1/score", "POST", 200 if i % 3 else 422, seconds)
        metrics.observe_scores("sync", scores, ["approved", "refused", "approved", "refused", "refused"])

    asyncio.run(serve())
    expected = CollectorRegistry()
    requests = Counter("gateway_requests", "", ["route", "method", "status"], registry=expected)
    latency = Histogram("gateway_request_duration_seconds", "", ["route", "method"], buckets=LATENCY_BUCKETS,
                        registry=expected)
    histogram = Histogram("gateway_score", "", ["path"], buckets=SCORE_BUCKETS, registry=expected)
    decisions = Counter("gateway_decisions", "", ["path", "decision"], registry=expected)
    for i, seconds in enumerate(latencies):
        requests.labels("/v1/score", "POST", "200" if i % 3 else "422").inc()
        latency.labels("/v1/score", "POST").observe(seconds)
    for p in scores:
        histogram.labels("sync").observe(p)
    decisions.labels("sync", "approved").inc(2)
    decisions.labels("sync", "refused").inc(3)
    got = [s for s in _samples(metrics.render()) if not s.startswith(("gateway_errors", "gateway_jobs"))]
    assert got == _samples(generate_latest(expected))


def test_metrics_are_folded_in_after_the_interval_without_a_scrape() -> None:
    metrics = GatewayMetrics()

    async def serve() -> float:
        metrics.observe_request("/health/live", "GET", 200, 0.001)
        before = metrics.requests.labels("/health/live", "GET", "200")._value.get()
        await asyncio.sleep(1.2)
        return float(before)

    before = asyncio.run(serve())
    assert before == 0.0
    assert metrics.requests.labels("/health/live", "GET", "200")._value.get() == 1.0
