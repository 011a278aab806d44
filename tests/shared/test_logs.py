"""One JSON log format for every service."""

from __future__ import annotations

import logging

import numpy as np
import orjson
import pytest

from shared.logs import JsonFormatter, configure_logging, log_context


def test_a_line_holds_the_fixed_keys_then_the_extra_fields() -> None:
    record = logging.LogRecord("worker.tasks", logging.INFO, __file__, 1, "job %s", ("done",), None)
    record.request_id, record.score = "r-1", np.float32(0.25)
    line = orjson.loads(JsonFormatter().format(record))
    assert list(line)[:5] == ["ts", "level", "logger", "msg", "pid"]
    assert line["msg"] == "job done" and line["level"] == "INFO" and line["ts"].endswith("Z")
    assert line["request_id"] == "r-1" and line["score"] == 0.25


def test_a_line_carries_the_ids_of_the_context_it_was_logged_in(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.context")
    with caplog.at_level(logging.INFO, logger="tests.context"):
        with log_context(request_id="r-7", job_id="j-7"):
            logger.info("inside")
            with log_context(request_id="r-8"):
                logger.info("nested")
        logger.info("after")
    # formatted after the blocks ended: each record kept the ids of its own moment
    lines = [orjson.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "tests.context"]
    assert [(line["msg"], line.get("request_id"), line.get("job_id")) for line in lines] == [
        ("inside", "r-7", "j-7"), ("nested", "r-8", None), ("after", None, None)]
    assert list(lines[0])[:7] == ["ts", "level", "logger", "msg", "pid", "request_id", "job_id"]


def test_every_service_sets_up_logging_through_the_one_shared_function() -> None:
    import embedded.__main__
    import gateway.__main__
    import gateway.app
    import monitoring.__main__
    import worker.__main__
    import worker.retention

    for module in (gateway.__main__, gateway.app, monitoring.__main__, worker.__main__, worker.retention):
        assert module.configure_logging is configure_logging, module.__name__
    assert embedded.__main__.run_gateway is gateway.__main__.main  # the embedded mode runs the gateway's setup


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
