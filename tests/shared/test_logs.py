"""One JSON log format for every service."""

from __future__ import annotations

import logging

import numpy as np
import orjson

from shared.logs import JsonFormatter


def test_a_line_holds_the_fixed_keys_then_the_extra_fields() -> None:
    record = logging.LogRecord("worker.tasks", logging.INFO, __file__, 1, "job %s", ("done",), None)
    record.request_id, record.score = "r-1", np.float32(0.25)
    line = orjson.loads(JsonFormatter().format(record))
    assert list(line)[:5] == ["ts", "level", "logger", "msg", "pid"]
    assert line["msg"] == "job done" and line["level"] == "INFO" and line["ts"].endswith("Z")
    assert line["request_id"] == "r-1" and line["score"] == 0.25


def test_every_service_logs_through_the_same_formatter() -> None:
    import gateway.logs
    import monitoring.logs
    import worker.__main__

    assert gateway.logs.JsonFormatter is JsonFormatter
    assert monitoring.logs.JsonFormatter is JsonFormatter
    assert worker.__main__.JsonFormatter is JsonFormatter
