"""Structured (one JSON object per line) logging for the monitoring jobs."""

from __future__ import annotations

import logging
import sys

from shared.logs import JsonFormatter


def configure_logging(level: str = "INFO") -> None:
    """Send the ``monitoring`` loggers to stderr as JSON lines (idempotent)."""
    logger = logging.getLogger("monitoring")
    logger.setLevel(level.upper())
    if not any(getattr(h, "_monitoring_json", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._monitoring_json = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
