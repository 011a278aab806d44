"""One performance run: read the window from the store, calculate, store the report, alert."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitoring.alerts import emit, iso, make_alert
from monitoring.exceptions import ReferenceDataError, WindowError
from monitoring.performance.calculator import PerformanceCalculator
from monitoring.settings import MonitoringSettings
from shared.store.base import EventStore, TimeWindow
from shared.store.mapping import parse_timestamp
from shared.store.outcome_base import UNMATCHED

logger = logging.getLogger("monitoring.performance")

METADATA_FILE = "metadata.json"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PerformanceWindow:
    """Which scored applications a run looks at: the newest N, those since a time, or the last D days."""

    last: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    days: float | None = None

    def resolve(self, settings: MonitoringSettings, now: datetime | None = None) -> tuple[TimeWindow | None, int]:
        """The store query: a time window (None = any time) and the number of applications at most.

        Raises:
            WindowError: impossible bounds.
        """
        now = now or datetime.now(UTC)
        if self.last is not None and self.since is not None:
            raise WindowError("give only one of --last, --since")
        end = _aware(self.until) if self.until is not None else now
        if self.last is not None:
            if self.last < 1:
                raise WindowError(f"--last must be at least 1, got {self.last}")
            return (None if self.until is None else TimeWindow(_EPOCH, end)), self.last
        if self.since is not None:
            since = _aware(self.since)
            if since >= end:
                raise WindowError(f"--since {iso(since)} is not before {iso(end)}")
            return TimeWindow(since, end), settings.performance_max_events
        days = settings.performance_window_days if self.days is None else self.days
        return TimeWindow(end - timedelta(days=days), end), settings.performance_max_events


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_metadata(model_dir: Path | str) -> dict[str, Any]:
    """The bundle's ``metadata.json``.

    Raises:
        ReferenceDataError: missing or unreadable.
    """
    path = Path(model_dir) / METADATA_FILE
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        raise ReferenceDataError(f"cannot read the bundle's metadata at {path}: {exc}") from exc


class PerformanceJob:
    """Performance runs against one store; the reference is read from the bundle (again when it changes)."""

    def __init__(self, settings: MonitoringSettings, store: EventStore,
                 calculator: PerformanceCalculator | None = None) -> None:
        self.settings = settings
        self.store = store
        self._calculator = calculator
        self._fixed = calculator is not None
        self._mtime: float | None = None

    def calculator(self) -> PerformanceCalculator:
        """The fitted calculator (the one given, or one fitted on the bundle's metadata)."""
        if self._fixed and self._calculator is not None:
            return self._calculator
        path = Path(self.settings.model_dir) / METADATA_FILE
        mtime = path.stat().st_mtime if path.exists() else None
        if self._calculator is None or mtime != self._mtime:
            self._calculator = PerformanceCalculator().fit(read_metadata(self.settings.model_dir))
            self._mtime = mtime
        return self._calculator

    def read(self, spec: PerformanceWindow) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int, dict[str, Any]]:
        """The window's scored applications, their matched outcomes, the unmatched count and the window object.

        ``--last N``: the outcomes of those N applications. A time window: the
        outcomes of every application scored in it, also those whose event is
        past retention, unless the window holds more applications than read
        (then only from the oldest application read on). ``n_unmatched``: the
        outcomes kept unmatched that were received since the window's start.
        """
        window, limit = spec.resolve(self.settings)
        with ThreadPoolExecutor(max_workers=1) as pool:
            # a time window: the outcomes are read while the applications are (two server-side reads at once)
            outcomes_read = pool.submit(self.store.matched_outcomes, window) if spec.last is None else None
            events = self.store.scored_summaries(window, limit)
        if spec.last is not None:
            ids = {e["event_id"] for e in events}
            span = None
            if events:
                first = min(parse_timestamp(e["timestamp"]) for e in events)
                last = max(parse_timestamp(e["timestamp"]) for e in events)
                span = TimeWindow(first, last + timedelta(milliseconds=1))
            outcomes = [o for o in self.store.matched_outcomes(span) if o["event_id"] in ids] if span else []
            n_unmatched = self.store.count_outcomes(UNMATCHED)
        else:
            assert window is not None
            assert outcomes_read is not None
            outcomes = outcomes_read.result()
            if len(events) >= limit:  # more applications than read: the outcomes of those read only
                oldest = events[-1]["timestamp"]
                outcomes = [o for o in outcomes if parse_timestamp(o["timestamp"]) >= parse_timestamp(oldest)]
            n_unmatched = self.store.count_outcomes(UNMATCHED, TimeWindow(window.since, _END_OF_TIME))
        stamps = [e["timestamp"] for e in events]
        described = {
            "since": iso(window.since) if window and spec.last is None else None,
            "until": iso(window.until) if window else None,
            "last": spec.last,
            "max_events": limit,
            "events": len(events),
            "first_event": min(stamps) if stamps else None,
            "last_event": max(stamps) if stamps else None,
        }
        return events, outcomes, n_unmatched, described

    def run(self, spec: PerformanceWindow | None = None, *, alert: bool = True, save: bool = True) -> dict[str, Any]:
        """One performance run now.

        Args:
            spec: the window (default: the last ``PERFORMANCE_WINDOW_DAYS`` days).
            alert: raise the alerts the figures call for.
            save: store the report in the store's performance reports.

        Returns:
            The report (the ``--json`` object, with ``report_id``, ``timestamp`` and ``duration_s``).
        """
        spec = spec or PerformanceWindow()
        calc = self.calculator()
        started = time.perf_counter()
        events, outcomes, n_unmatched, described = self.read(spec)
        read_s = time.perf_counter() - started
        report = {"report_id": uuid.uuid4().hex, "timestamp": iso(datetime.now(UTC)), "kind": "performance",
                  **calc.calculate(events, outcomes, n_unmatched=n_unmatched, window=described)}
        report["duration_s"] = time.perf_counter() - started
        report["timings"] = {"read_s": read_s, "calculate_s": report["duration_s"] - read_s}
        if save:
            self.store.save_performance_report(report)
        logger.info("performance run", extra={"event": "performance_run", "report_id": report["report_id"],
                                              "n_scored": report["n_scored"], "n_outcomes": report["n_outcomes"],
                                              "duration_s": round(report["duration_s"], 3)})
        if alert:
            for alert_doc in performance_alerts(report, self.settings):
                emit(self.store, alert_doc)
        return report


def performance_alerts(report: Mapping[str, Any], settings: MonitoringSettings) -> list[dict[str, Any]]:
    """The alerts a report calls for, per model version, each on at least ``PERFORMANCE_MIN_APPLICATIONS``.

    A cost per application (realised, or estimated) above the reference's by
    more than ``PERFORMANCE_COST_MARGIN``; a disparate-impact ratio below
    ``FAIRNESS_MIN_RATIO``.
    """
    alerts = []
    reference_cost = (report.get("reference") or {}).get("cost_per_application")
    minimum = settings.performance_min_applications
    common = {"source": "performance", "report_id": report.get("report_id"), "window": report.get("window") or {}}
    for version, block in (report.get("per_model_version") or {}).items():
        if reference_cost:
            limit = reference_cost * (1 + settings.performance_cost_margin)
            for kind, count in (("realised", block["n_outcomes"]), ("estimated", block["n_scored"])):
                figures = block.get(kind) or {}
                cost = figures.get("cost_per_application")
                if cost is not None and count >= minimum and cost > limit:
                    alerts.append(make_alert(
                        metric=f"{kind}_cost", severity="warning", value=cost, threshold=limit,
                        baseline=reference_cost, model_version=version, applications=count,
                        message=f"{kind} cost per application {cost:.3f} of model {version} exceeds the reference "
                                f"{reference_cost:.3f} by more than {settings.performance_cost_margin:.0%} "
                                f"({count:,} applications)", **common))
        for attribute, ratio in block["fairness"]["disparate_impact"].items():
            if ratio is not None and block["n_scored"] >= minimum and ratio < settings.fairness_min_ratio:
                alerts.append(make_alert(
                    metric="disparate_impact", severity="warning", value=ratio, threshold=settings.fairness_min_ratio,
                    model_version=version, attribute=attribute, applications=block["n_scored"],
                    message=f"disparate impact by {attribute} {ratio:.2f} of model {version} is below "
                            f"{settings.fairness_min_ratio} ({block['n_scored']:,} applications)", **common))
    return alerts
