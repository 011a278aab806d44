"""Alert documents: built here, stored with ``store.save_alert`` and logged as one JSON line."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.store.base import EventStore

logger = logging.getLogger("monitoring.alerts")

SEVERITIES = ("info", "warning", "critical")
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with milliseconds and a Z, as the events' timestamps."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_alert(*, metric: str, severity: str, value: float | None, threshold: float | None,
               window: Mapping[str, Any], message: str, baseline: float | None = None,
               source: str = "anomaly", now: datetime | None = None, **extra: Any) -> dict[str, Any]:
    """One alert document.

    Args:
        metric: what was measured (``error_rate``, ``latency_p95``, ``data_drift``, ...).
        severity: ``info``, ``warning`` or ``critical``.
        value: the measured value.
        threshold: the limit it was compared with (None when only the baseline was).
        window: the checked window (``since``/``until`` ISO times, and for drift its size).
        message: one sentence for a human.
        baseline: the rolling baseline, when one was used.
        source: ``anomaly`` or ``drift``.
        now: alert time (defaults to now).
        **extra: more fields (``path``, ``report_id``...).

    Returns:
        The document (``alert_id``, ``timestamp``, ``severity``, ``metric``, ``window``, ``value``,
        ``threshold``, ``baseline``, ``message``, ``source`` and the extras).
    """
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
    return {
        "alert_id": uuid.uuid4().hex,
        "timestamp": iso(now or datetime.now(UTC)),
        "severity": severity,
        "metric": metric,
        "window": dict(window),
        "value": value,
        "threshold": threshold,
        "baseline": baseline,
        "message": message,
        "source": source,
        **extra,
    }


def emit(store: EventStore, alert: Mapping[str, Any]) -> str:
    """Store the alert and log it as one structured line; returns its id."""
    alert_id = store.save_alert(alert)
    logger.log(_LEVELS.get(str(alert.get("severity")), logging.WARNING), str(alert.get("message")),
               extra={"event": "alert", "alert": dict(alert)})
    return alert_id
