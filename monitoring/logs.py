"""Structured (one JSON object per line) logging for the monitoring jobs."""

from __future__ import annotations

import logging
import sys

from shared.logs import JsonFormatter


def configure_logging(level: str = "INFO", pseudonymisation_key: str | None = None) -> None:
    """Send the ``monitoring`` loggers to stderr as JSON lines (idempotent).

    Args:
        level: the log level.
        pseudonymisation_key: client ids in a line become their pseudonym (``redacted`` without a key).
    """
    logger = logging.getLogger("monitoring")
    logger.setLevel(level.upper())
    for existing in logger.handlers:
        if getattr(existing, "_monitoring_json", False):
            existing.setFormatter(JsonFormatter(pseudonymisation_key))
    if not any(getattr(h, "_monitoring_json", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter(pseudonymisation_key))
        handler._monitoring_json = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
