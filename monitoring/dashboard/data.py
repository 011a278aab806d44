"""What the pages show, asked of the store (and of the bundle for the reference scores).

Every method answers for a window key of :data:`WINDOWS`; nothing here knows
about Dash, so it is tested without a browser.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from monitoring.queue_probe import QueueProbe, QueueStats
from monitoring.reference import METADATA_FILE, load_reference
from monitoring.settings import MonitoringSettings
from shared.store.base import EventStore, OpsBucket, TimeWindow

# window key -> (length, bucket width): about 60 buckets per chart
WINDOWS: dict[str, tuple[timedelta, timedelta]] = {
    "1h": (timedelta(hours=1), timedelta(minutes=1)),
    "6h": (timedelta(hours=6), timedelta(minutes=5)),
    "24h": (timedelta(hours=24), timedelta(minutes=20)),
    "7d": (timedelta(days=7), timedelta(hours=3)),
    "30d": (timedelta(days=30), timedelta(hours=12)),
}
DEFAULT_WINDOW = "24h"
SCORE_BINS = 20


@dataclass(frozen=True)
class ReferenceScores:
    """The training reference's score distribution and approval rate."""

    shares: list[float]  # per bin of SCORE_BINS equal bins over [0, 1]
    approval_rate: float | None
    threshold: float | None
    n: int
    median: float | None = None  # median score of the reference sample


class DashboardData:
    """Store queries shaped for the pages.

    Args:
        settings: monitoring settings (bundle folder for the reference).
        store: the event store.
        queue_probe: reads RQ backlog (None in embedded mode).
    """

    def __init__(self, settings: MonitoringSettings, store: EventStore, queue_probe: QueueProbe | None = None) -> None:
        self.settings = settings
        self.store = store
        self.queue_probe = queue_probe
        self._reference: ReferenceScores | None = None
        self._reference_error: str | None = None
        self._lock = threading.Lock()

    @staticmethod
    def window(key: str | None, now: datetime | None = None) -> tuple[TimeWindow, timedelta]:
        """The time window and bucket width of a window key (unknown keys fall back to the default)."""
        length, interval = WINDOWS.get(key or DEFAULT_WINDOW, WINDOWS[DEFAULT_WINDOW])
        end = now or datetime.now(UTC)
        # buckets aligned on whole intervals, so a refresh does not shift every point
        step = interval.total_seconds()
        aligned = datetime.fromtimestamp((end.timestamp() // step + 1) * step, UTC)
        return TimeWindow(aligned - length, aligned), interval

    def operations(self, key: str | None, path: str | None = None) -> tuple[list[OpsBucket], timedelta]:
        """Per-bucket operational figures of the window."""
        window, interval = self.window(key)
        return self.store.operations(window, interval, path), interval

    def totals(self, key: str | None) -> dict[str, Any]:
        """Headline figures of the window."""
        window, _ = self.window(key)
        count = self.store.count_events(window)
        errors = self.store.count_events(window, status="error")
        invalid = self.store.count_events(window, status="invalid")
        minutes = (window.until - window.since).total_seconds() / 60
        sync = self.store.latency_percentiles(window, path="sync")
        asyncp = self.store.latency_percentiles(window, path="async")
        inference = self.store.latency_percentiles(window, field="inference_ms")
        return {
            "events": count, "errors": errors, "invalid": invalid,
            "error_rate": errors / count if count else None,
            "per_minute": count / minutes if minutes else 0.0,
            "sync_p95": sync.get(95), "async_p95": asyncp.get(95), "inference_p95": inference.get(95),
        }

    def queues(self) -> list[QueueStats] | None:
        """RQ backlog now, or None when it cannot be measured (embedded mode, Redis down)."""
        if self.queue_probe is None:
            return None
        try:
            return self.queue_probe.measure()
        except Exception:  # Redis down: the page says "not measured" rather than failing
            return None

    def scores(self, key: str | None) -> dict[str, Any]:
        """Score histogram (counts per bin) and decisions of the window."""
        window, _ = self.window(key)
        return {"histogram": self.store.score_histogram(window, bins=SCORE_BINS),
                "decisions": self.store.decision_counts(window)}

    def reference_scores(self) -> ReferenceScores | None:
        """The bundle's reference score distribution (read once), or None without a bundle."""
        with self._lock:
            if self._reference is None and self._reference_error is None:
                try:
                    self._reference = self._load_reference()
                except Exception as exc:  # no bundle yet: the page says so
                    self._reference_error = str(exc)
            return self._reference

    def _load_reference(self) -> ReferenceScores:
        reference = load_reference(self.settings.model_dir)
        scores = np.array([r["score"] for r in reference.rows if r.get("score") is not None], dtype=float)
        counts, _ = np.histogram(np.clip(scores, 0, 1), bins=SCORE_BINS, range=(0.0, 1.0))
        threshold = None
        meta = Path(self.settings.model_dir) / METADATA_FILE
        if meta.is_file():
            threshold = (json.loads(meta.read_text()).get("threshold") or {}).get("value")
        approval = float((scores < threshold).mean()) if threshold is not None and len(scores) else None
        median = float(np.median(scores)) if len(scores) else None
        return ReferenceScores(shares=(counts / max(len(scores), 1)).tolist(), approval_rate=approval,
                               threshold=threshold, n=len(scores), median=median)

    def reports(self, key: str | None, limit: int = 200) -> list[dict[str, Any]]:
        """Drift runs of the window, newest first."""
        window, _ = self.window(key)
        return self.store.list_reports(limit=limit, window=window)

    def latest_report(self, key: str | None) -> dict[str, Any] | None:
        """The newest drift run of the window that could compare (else the newest run at all)."""
        reports = self.reports(key, limit=50)
        complete = [r for r in reports if r.get("status") == "ok"]
        newest = complete or reports
        return newest[0] if newest else None

    def events(self, key: str | None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest stored event documents of the window, newest first, as the store holds them."""
        window, _ = self.window(key)
        return self.store.recent_events(limit=limit, window=window)

    def alerts(self, key: str | None, limit: int = 500) -> list[dict[str, Any]]:
        """Alerts of the window, newest first."""
        window, _ = self.window(key)
        return self.store.list_alerts(limit=limit, window=window)
