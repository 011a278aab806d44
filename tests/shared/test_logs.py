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


def test_a_client_id_never_reaches_a_line_in_clear() -> None:
    from shared.pseudonym import pseudonymise

    body = '{"SK_ID_CURR": 318442, "AMT_CREDIT": 1'  # malformed: cut after a field
    record = logging.LogRecord("gateway", logging.WARNING, __file__, 1, "refused %s", (body,), None)
    record.application = {"SK_ID_CURR": 318442}
    try:
        raise ValueError("SK_ID_CURR=" + str(318442) + " is odd")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    keyed = JsonFormatter("log-key").format(record)
    assert "318442" not in keyed
    line = orjson.loads(keyed)
    ref = pseudonymise(318442, "log-key")
    assert ref in line["msg"] and line["application"]["SK_ID_CURR"] == ref and ref in line["exc"]
    assert "318442" not in JsonFormatter().format(record)
