"""Structured logs: one JSON object per line, on stderr."""

from __future__ import annotations

import logging
import sys

from shared.logs import JsonFormatter

__all__ = ["ACCESS_LOGGER", "JsonFormatter", "configure_logging"]

ACCESS_LOGGER = "gateway.access"


def configure_logging(level: str = "INFO", pseudonymisation_key: str | None = None) -> None:
    """Send every logger (ours, uvicorn's, RQ's) through one JSON handler on stderr.

    Idempotent: calling it again only changes the level (and the key).

    Args:
        level: the log level.
        pseudonymisation_key: client ids in a line become their pseudonym (``redacted`` without a key).
    """
    root = logging.getLogger()
    root.setLevel(level.upper())
    ours = [h for h in root.handlers if isinstance(h.formatter, JsonFormatter)]
    if ours:
        for handler in ours:
            handler.setFormatter(JsonFormatter(pseudonymisation_key))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter(pseudonymisation_key))
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
