"""Structured logs: one JSON object per line, on stderr."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

ACCESS_LOGGER = "gateway.access"
# LogRecord attributes that are not user-supplied ``extra`` fields.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON line: time, level, logger, message, then the ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(payload, default=str).decode()


def _iso(created: float) -> str:
    seconds = time.gmtime(created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", seconds) + f".{int(created % 1 * 1000):03d}Z"


def configure_logging(level: str = "INFO") -> None:
    """Send every logger (ours, uvicorn's, RQ's) through one JSON handler on stderr.

    Idempotent: calling it again only changes the level.
    """
    root = logging.getLogger()
    root.setLevel(level.upper())
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    for name in ("uvicorn", "uvicorn.error", "rq.worker", "rq.job", "rq.scheduler"):
        # their own handlers would print a second, non-JSON line
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # The middleware writes the access line (JSON, with the request id and the route). uvicorn
    # logs its own whenever "uvicorn.access" has a handler, even when run with access_log=False:
    # propagating it to the root gave two lines per request (and about 5 % of a request's CPU).
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    if root.level > logging.DEBUG:
        # RQ logs several INFO lines per job: the embedded worker keeps warnings only
        for name in ("rq.worker", "rq.job", "rq.scheduler"):
            logging.getLogger(name).setLevel(logging.WARNING)
