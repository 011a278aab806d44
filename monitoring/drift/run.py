"""One drift run: sample the window from the store, compare, write the HTML and the summary, alert."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitoring.alerts import emit, iso, make_alert
from monitoring.drift import fitcache
from monitoring.drift.calculator import DriftCalculator, DriftConfig
from monitoring.drift.html import write_html
from monitoring.drift.result import DriftResult
from monitoring.exceptions import WindowError
from monitoring.notify import AlertRouter
from monitoring.reference import REFERENCE_FILE, load_reference
from monitoring.settings import MonitoringSettings
from shared.pseudonym import Pseudonymiser
from shared.store.base import EventStore, TimeWindow
from shared.store.columns import ColumnSample

logger = logging.getLogger("monitoring.drift")


@dataclass(frozen=True)
class WindowSpec:
    """Which production events a run looks at: the last N events, since a time, or the last H hours.

    ``until`` (default: now) ends the window, to re-run drift over a past period.
    """

    last: int | None = None
    since: datetime | None = None
    hours: float | None = None
    until: datetime | None = None

    def resolve(self, settings: MonitoringSettings, now: datetime | None = None) -> tuple[TimeWindow | None, int]:
        """The store query: a time window (None = any time) and the maximum number of events.

        Raises:
            WindowError: impossible bounds (N < 1, H <= 0, a start not before the end).
        """
        now = now or datetime.now(UTC)
        if sum(x is not None for x in (self.last, self.since, self.hours)) > 1:
            raise WindowError("give only one of --last, --since, --hours")
        end = _aware(self.until) if self.until is not None else now
        if self.last is not None:
            if self.last < 1:
                raise WindowError(f"--last must be at least 1, got {self.last}")
            return (None if self.until is None else TimeWindow(datetime(1970, 1, 1, tzinfo=UTC), end)), self.last
        if self.since is not None:
            since = _aware(self.since)
            if since >= end:
                what = "is not in the past" if self.until is None else f"is not before --until {iso(end)}"
                raise WindowError(f"--since {iso(since)} {what}")
            return TimeWindow(since, end), settings.drift_max_events
        hours = settings.drift_window_hours if self.hours is None else self.hours
        if hours <= 0:
            raise WindowError(f"--hours must be positive, got {hours}")
        return TimeWindow(end - timedelta(hours=hours), end), settings.drift_max_events

    def describe(self, window: TimeWindow | None, limit: int) -> dict[str, Any]:
        """The ``window`` object of the summary."""
        return {
            "since": iso(window.since) if window and self.last is None else None,
            "until": iso(window.until) if window else None,
            "last": self.last,
            "hours": self.hours,
            "max_events": limit,
        }


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class DriftJob:
    """Runs drift checks against one store; the reference is loaded and fitted once (again if the bundle changes)."""

    def __init__(self, settings: MonitoringSettings, store: EventStore,
                 calculator: DriftCalculator | None = None, router: AlertRouter | None = None) -> None:
        self.settings = settings
        self.store = store
        self.router = router
        self._calculator = calculator
        self._fixed = calculator is not None
        self._reference_mtime: float | None = None

    def calculator(self) -> DriftCalculator:
        """The fitted calculator (the one given, or the bundle's, refitted when its reference file changes).

        The fit depends only on the reference file and the drift settings: it is kept on disk
        (:mod:`monitoring.drift.fitcache`), so a one-off command does not fit again.
        """
        if self._fixed and self._calculator is not None:
            return self._calculator
        path = Path(self.settings.model_dir) / REFERENCE_FILE
        mtime = path.stat().st_mtime if path.exists() else None
        if self._calculator is None or mtime != self._reference_mtime:
            config = DriftConfig.from_settings(self.settings)
            cache = fitcache.location(Path(self.settings.reports_dir), path, config)
            calc = fitcache.load(cache) if cache is not None else None
            if calc is None:
                reference = load_reference(self.settings.model_dir)
                calc = DriftCalculator(config).fit(reference.rows, model_version=reference.model_version)
                if cache is not None:
                    fitcache.save(cache, calc)
            self._calculator = calc
            self._reference_mtime = mtime
        return self._calculator

    def _fit_needed(self) -> bool:
        """True when :meth:`calculator` would fit the reference: none in memory for this file, none kept on disk."""
        if self._fixed:
            return False
        path = Path(self.settings.model_dir) / REFERENCE_FILE
        if not path.exists():
            return False  # calculator() says so at once
        if self._calculator is not None and path.stat().st_mtime == self._reference_mtime:
            return False
        cache = fitcache.location(Path(self.settings.reports_dir), path, DriftConfig.from_settings(self.settings))
        return cache is None or not cache.exists()

    def _sample(self, calc: DriftCalculator, window: TimeWindow | None, limit: int) -> ColumnSample:
        numeric, categorical = calc.sample_fields()
        return self.store.sample_columns(numeric, categorical, window=window, limit=limit)

    def run(self, spec: WindowSpec | None = None, *, html: bool = True, alert: bool = True) -> DriftResult:
        """One drift run now.

        Args:
            spec: the window (default: the last ``DRIFT_WINDOW_HOURS`` hours).
            html: write the HTML report into ``REPORTS_DIR``.
            alert: store an alert when drift is found.

        Returns:
            The result, already saved to the store (``report_html`` set when written).
        """
        spec = spec or WindowSpec()
        window, limit = spec.resolve(self.settings)
        if self._fit_needed():
            # Fitting takes seconds of CPU, and the read mostly waits for the server: the fit runs beside it.
            started = t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="drift-fit") as pool:
                fitting = pool.submit(self.calculator)
                sample = self._sample(DriftCalculator(DriftConfig.from_settings(self.settings)), window, limit)
                calc = fitting.result()
        else:
            calc = self.calculator()  # in memory, or read back from disk
            started = t0 = time.perf_counter()
            sample = self._sample(calc, window, limit)
        t1 = time.perf_counter()
        described = spec.describe(window, limit)
        described.update(events=len(sample), first_event=sample.first_event, last_event=sample.last_event)
        frame = calc.frame_of(sample)
        del sample  # the frame holds the columns
        result = calc.calculate(frame, window=described)
        del frame
        t2 = time.perf_counter()
        if html and result.status == "ok":
            result.report_html = str(write_html(result, Path(self.settings.reports_dir),
                                                self.settings.drift_html_max_features,
                                                Pseudonymiser(self.settings.pseudonymisation_key)))
        t3 = time.perf_counter()
        result.duration_s = time.perf_counter() - started
        result.timings = {"sample_s": t1 - t0, "calculate_s": t2 - t1, "html_s": t3 - t2}
        self.store.save_report(result.to_document())
        logger.info(result.message, extra={"event": "drift_run", "report_id": result.report_id,
                                           "status": result.status, "share_drifted": result.share_drifted,
                                           "drifted_features": result.drifted_features,
                                           "duration_s": round(result.duration_s, 3), "timings": result.timings})
        if alert and result.severity:
            self._alert(result)
        elif alert and self.router is not None and result.status == "ok":  # a clean run clears a drift alert
            self.router.update("drift", [])
        return result

    def _alert(self, result: DriftResult) -> None:
        score = result.score
        parts = [f"{len(result.drifted_features)} of {result.n_features} features drifted"]
        if result.drifted_features:
            parts.append("(" + ", ".join(result.drifted_features[:8])
                         + (", ..." if len(result.drifted_features) > 8 else "") + ")")
        if score and score.drifted:
            parts.append(f"; score PSI {score.value:.3f} >= {score.threshold}")
        alert = make_alert(
            metric="data_drift", severity=result.severity or "warning", value=result.share_drifted,
            threshold=result.share_threshold, window=result.window, message=" ".join(parts), source="drift",
            report_id=result.report_id, drifted_features=result.drifted_features, report_html=result.report_html,
        )
        emit(self.store, alert)
        if self.router is not None:
            self.router.update("drift", [alert])
