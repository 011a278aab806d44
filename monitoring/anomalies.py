"""Operational anomalies: error rate, latency and inference percentiles, throughput, queue backlog.

Each check compares the last window (``ANOMALY_WINDOW_SECONDS``) with a fixed
threshold (critical: a service-level limit is broken) and with a rolling
baseline, the median of the previous ``ANOMALY_BASELINE_WINDOWS`` windows
(warning: unusual for this service, though within limits). Medians, so one bad
window in the baseline does not hide the next one. Rates and percentiles are
not judged on fewer than ``ANOMALY_MIN_EVENTS`` events, and a rate (errors,
refused inputs) raises an alert only on at least ``ANOMALY_MIN_BAD_EVENTS`` bad
events; over its limit only when even the lower bound of its 95 % Wilson
interval is, so that one error among 25 requests (4 %, but anywhere from 0.7 %
to 20 %) does not page anyone about a 2 % limit.

What holds after each check goes to the alert router (``ALERT_WEBHOOK_URL``),
which says when a condition starts and when it clears (:mod:`monitoring.notify`).

The event figures of past windows come from the store. The queue backlog is a
reading of the moment that no event records, so its baseline comes from the
readings of this detector's previous checks (:class:`QueueHistory`).
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from monitoring.alerts import emit, iso, make_alert
from monitoring.drift.checks import two_proportion_z, wilson_interval
from monitoring.exceptions import QueueProbeError
from monitoring.notify import AlertRouter
from monitoring.queue_probe import GatewayMetricsProbe, QueueProbe, QueueStats
from monitoring.settings import MonitoringSettings
from shared.publisher import LOST_SUFFIX
from shared.store.base import EventStore, OpsBucket, TimeWindow

logger = logging.getLogger("monitoring.anomalies")

PATHS = ("sync", "async")
RATE_FLOOR = 0.01  # a rate under 1 % is never "unusual" against its baseline
RATE_MIN_Z = 3.29  # and a rise over the baseline must be significant (p < 0.001)
RATE_CONFIDENCE_Z = 1.96  # a rate is over its limit when the lower bound of its 95 % Wilson interval is
LATENCY_FLOOR_MS = 10.0  # nor is a latency under 10 ms
QUEUE_DEPTH_FLOOR = 100  # nor a backlog under 100 jobs (half a second of the measured async capacity)
QUEUE_AGE_FLOOR_S = 10.0  # nor an oldest job younger than 10 s
QUEUE_BASELINE_MIN_WINDOWS = 3  # previous windows with readings needed before the queue baseline is used


@dataclass
class Finding:
    """One anomalous measurement, before it becomes an alert."""

    metric: str
    severity: str
    value: float
    threshold: float | None
    baseline: float | None
    message: str
    path: str | None = None


def _median(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.median(kept) if kept else None


def _rate(part: int, bucket: OpsBucket) -> float:
    return part / bucket.count if bucket.count else 0.0


class QueueHistory:
    """The backlog readings of the previous checks, per queue: the queue baselines' memory.

    A window's figure is the largest reading taken in it (the peak backlog the
    checks saw); the baseline is the median of those peaks over the previous
    windows, as for the other metrics. The memory starts empty with the process,
    so a restarted scheduler judges the queues on their limits only until it has
    readings in ``QUEUE_BASELINE_MIN_WINDOWS`` previous windows.
    """

    def __init__(self) -> None:
        self._readings: dict[str, list[tuple[datetime, int, float]]] = {}

    def add(self, now: datetime, stats: Sequence[QueueStats], keep: timedelta) -> None:
        """Record this check's readings and forget those older than ``keep``."""
        for q in stats:
            readings = self._readings.setdefault(q.name, [])
            readings.append((now, q.depth, q.oldest_age_s or 0.0))
            readings[:] = [r for r in readings if r[0] >= now - keep]

    def baseline(self, name: str, now: datetime, width: timedelta, windows: int) -> tuple[float | None, float | None]:
        """Median over the previous ``windows`` windows of the peak (depth, oldest age); None without enough."""
        peaks: dict[int, tuple[int, float]] = {}
        for moment, depth, age in self._readings.get(name, []):
            index = int((now - moment) / width)  # 0: the current window
            if 1 <= index <= windows:
                old_depth, old_age = peaks.get(index, (0, 0.0))
                peaks[index] = (max(old_depth, depth), max(old_age, age))
        if len(peaks) < min(QUEUE_BASELINE_MIN_WINDOWS, windows):
            return None, None
        return _median([d for d, _ in peaks.values()]), _median([a for _, a in peaks.values()])


class AnomalyDetector:
    """Measures the last window and raises alerts.

    Args:
        settings: thresholds and windows.
        store: where events are read and alerts written.
        queue_probe: RQ backlog reader (None: queue checks are skipped).
    """

    def __init__(self, settings: MonitoringSettings, store: EventStore,
                 queue_probe: QueueProbe | GatewayMetricsProbe | None = None,
                 router: AlertRouter | None = None) -> None:
        self.settings = settings
        self.store = store
        self.queue_probe = queue_probe
        self.router = router
        self.queue_history = QueueHistory()
        self.last_measurements: dict[str, Any] = {}

    # --- measuring -------------------------------------------------------------
    def _series(self, now: datetime, path: str | None) -> tuple[OpsBucket, list[OpsBucket]]:
        s = self.settings
        width = timedelta(seconds=s.anomaly_window_seconds)
        span = TimeWindow(now - width * (s.anomaly_baseline_windows + 1), now)
        buckets = self.store.operations(span, width, path)
        return buckets[-1], buckets[:-1]

    def _baseline(self, buckets: Sequence[OpsBucket], value: Callable[[OpsBucket], float | None]) -> float | None:
        """Median of ``value`` over the baseline buckets that hold enough events."""
        return _median([value(b) for b in buckets if b.count >= self.settings.anomaly_min_events])

    # --- rules -----------------------------------------------------------------
    def _check_level(self, metric: str, value: float | None, baseline: float | None, limit: float | None,
                     floor: float, unit: str, path: str | None, over_limit: str = "critical") -> Finding | None:
        if value is None:
            return None
        factor = self.settings.anomaly_baseline_factor
        where = f" ({path})" if path else ""
        if limit is not None and value > limit:
            return Finding(metric, over_limit, value, limit, baseline,
                           f"{metric}{where} is {value:.4g}{unit}, above the limit {limit:.4g}{unit}", path)
        if baseline is not None and value >= floor and value > factor * baseline:
            return Finding(metric, "warning", value, limit, baseline,
                           f"{metric}{where} is {value:.4g}{unit}, over {factor:g}x its baseline "
                           f"{baseline:.4g}{unit}", path)
        return None

    def _rate_finding(self, metric: str, part: str, current: OpsBucket, history: Sequence[OpsBucket],
                      limit: float, over_limit: str) -> Finding | None:
        """A rate against its limit, or against its baseline when the rise is also significant.

        At a few dozen requests per window one error more is a large relative
        jump, so any rate finding needs ``ANOMALY_MIN_BAD_EVENTS`` such events;
        over the limit, the lower bound of the rate's 95 % Wilson interval must
        be over it too; over the baseline (a warning), a two-proportion z of
        3.29 (p < 0.001) against the baseline windows' pooled events.
        """
        bad = getattr(current, part)
        if bad < self.settings.anomaly_min_bad_events:
            return None
        value = _rate(bad, current)
        baseline = self._baseline(history, lambda b: _rate(getattr(b, part), b))
        low, high = wilson_interval(bad, current.count, RATE_CONFIDENCE_Z)
        if low > limit:
            return Finding(metric, over_limit, value, limit, baseline,
                           f"{metric} is {value:.4g} ({bad} of {current.count} events; 95 % interval "
                           f"{low:.3g}-{high:.3g}), above the limit {limit:.4g}")
        # maybe not over the limit: judged against its own baseline only
        finding = self._check_level(metric, value, baseline, None, RATE_FLOOR, "", None)
        if finding is None:
            return None
        finding.threshold = limit
        judged = [b for b in history if b.count >= self.settings.anomaly_min_events]
        n_base = sum(b.count for b in judged)
        p_base = sum(getattr(b, part) for b in judged) / n_base if n_base else 0.0
        return finding if two_proportion_z(p_base, n_base, value, current.count) >= RATE_MIN_Z else None

    def _overall(self, now: datetime) -> list[Finding]:
        s = self.settings
        current, history = self._series(now, None)
        minutes = s.anomaly_window_seconds / 60
        self.last_measurements["overall"] = {
            "events": current.count, "errors": current.errors, "invalid": current.invalid,
            "throughput_per_min": current.count / minutes,
        }
        findings: list[Finding | None] = []
        if current.count >= s.anomaly_min_events:
            findings.append(self._rate_finding("error_rate", "errors", current, history, s.error_rate_max,
                                               "critical"))
            findings.append(self._rate_finding("invalid_rate", "invalid", current, history, s.invalid_rate_max,
                                               "warning"))
        findings.append(self._throughput(current, history, minutes))
        return [f for f in findings if f]

    def _throughput(self, current: OpsBucket, history: Sequence[OpsBucket], minutes: float) -> Finding | None:
        """Events per minute against ``THROUGHPUT_MIN/MAX_PER_MIN``, else against the baseline (both ways)."""
        s = self.settings
        value, factor = current.count / minutes, s.anomaly_baseline_factor
        baseline = _median([b.count for b in history]) if history else None
        per_min = baseline / minutes if baseline is not None else None
        low = s.throughput_min_per_min or None
        if low is not None and value < low:
            return Finding("throughput", "critical", value, low, per_min,
                           f"traffic is {value:.3g}/min, below the minimum {low:.4g}/min")
        if value > s.throughput_max_per_min:
            return Finding("throughput", "warning", value, s.throughput_max_per_min, per_min,
                           f"traffic is {value:.3g}/min, above {s.throughput_max_per_min:.4g}/min: "
                           f"near the service's capacity")
        if baseline is None or per_min is None or baseline < s.anomaly_min_events:
            return None
        if current.count * factor < baseline:
            return Finding("throughput", "warning", value, low, per_min,
                           f"traffic dropped to {value:.3g}/min from a baseline of {per_min:.3g}/min")
        if current.count > factor * baseline:
            return Finding("throughput", "info", value, s.throughput_max_per_min, per_min,
                           f"traffic surged to {value:.3g}/min from a baseline of {per_min:.3g}/min")
        return None

    def _latency(self, now: datetime, path: str) -> list[Finding]:
        s = self.settings
        current, history = self._series(now, path)
        self.last_measurements[path] = {
            "events": current.count, "latency_p50_ms": current.latency_p50, "latency_p95_ms": current.latency_p95,
            "latency_p99_ms": current.latency_p99, "inference_p95_ms": current.inference_p95,
        }
        if current.count < s.anomaly_min_events:
            return []
        # one latency alert per path and check: the broken limit (p99, then p95, then p50), else the baseline rise
        # of the tail (p95), else of the typical request (p50); inference time is judged on its own
        families: list[list[tuple[str, float | None, str]]] = [
            [("latency_p99", s.latency_p99_max_ms.get(path), "critical"),
             ("latency_p95", s.latency_p95_max_ms.get(path), "critical"),
             ("latency_p50", s.latency_p50_max_ms.get(path), "critical")],
            [("inference_p95", s.inference_p95_max_ms, "warning")],
        ]
        findings = []
        for family in families:
            candidates = []
            for metric, limit, severity in family:
                baseline = self._baseline(history, lambda b, m=metric: getattr(b, m))  # type: ignore[misc]
                finding = self._check_level(metric, getattr(current, metric), baseline, limit, LATENCY_FLOOR_MS,
                                            " ms", path, over_limit=severity)
                if finding:
                    candidates.append(finding)
            over = [f for f in candidates if f.threshold is not None and f.value > f.threshold]
            chosen = over[:1] or [f for f in candidates if f.metric in ("latency_p95", "inference_p95")][:1] \
                or candidates[:1]
            findings.extend(chosen)
        return findings

    def _queues(self, now: datetime) -> list[Finding]:
        if self.queue_probe is None:
            self.last_measurements["queues"] = "not measured (no REDIS_URL, no GATEWAY_METRICS_URL)"
            return []
        s = self.settings
        try:
            stats = self.queue_probe.measure(now)
        except QueueProbeError as exc:  # the other checks still run; the next check tries again
            logger.warning("queue backlog not measured: %s", exc, extra={"event": "queue_probe_failed"})
            self.last_measurements["queues"] = f"not measured ({exc})"
            return []
        width = timedelta(seconds=s.anomaly_window_seconds)
        measured, findings = [], []
        for q in stats:
            depth_base, age_base = self.queue_history.baseline(q.name, now, width, s.anomaly_baseline_windows)
            measured.append({**vars(q), "baseline_depth": depth_base, "baseline_oldest_age_s": age_base})
            findings.append(self._check_level("queue_depth", q.depth, depth_base, s.queue_depth_max,
                                              QUEUE_DEPTH_FLOOR, " jobs", q.name, over_limit="warning"))
            findings.append(self._check_level("queue_oldest_age", q.oldest_age_s, age_base, s.queue_age_max_seconds,
                                              QUEUE_AGE_FLOOR_S, " s", q.name, over_limit="critical"))
        self.queue_history.add(now, stats, width * (s.anomaly_baseline_windows + 1))
        self.last_measurements["queues"] = measured
        return [f for f in findings if f]

    def _lost_events(self, now: datetime) -> list[Finding]:
        """Events recorded as lost in ``{EVENTS_STREAM}:lost`` during the window: always critical.

        The publishers (spool full) and the indexer (entries cut before it read them) record
        every loss there; the entry ids are millisecond timestamps, so the window is an XRANGE.
        Needs the Redis of the events (not measured in embedded mode).
        """
        connection = getattr(self.queue_probe, "connection", None)
        if connection is None:
            self.last_measurements["events_lost"] = "not measured (no REDIS_URL)"
            return []
        since = now - timedelta(seconds=self.settings.anomaly_window_seconds)
        try:
            records = connection.xrange(self.settings.events_stream + LOST_SUFFIX,
                                        min=f"{int(since.timestamp() * 1000)}-0",
                                        max=f"{int(now.timestamp() * 1000)}-18446744073709551615")
        except Exception as exc:  # Redis down: the queue check says so too; the next check tries again
            self.last_measurements["events_lost"] = f"not measured ({exc})"
            return []
        lost, reasons = 0, set()
        for _, fields in records:
            decoded = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                       for k, v in fields.items()}
            lost += int(decoded.get("count", 0))
            reasons.add(f"{decoded.get('source', '?')}: {decoded.get('reason', '?')}")
        self.last_measurements["events_lost"] = lost
        if not lost:
            return []
        return [Finding("events_lost", "critical", float(lost), 0.0, None,
                        f"{lost} scoring event(s) lost in the window ({'; '.join(sorted(reasons))[:500]}); "
                        f"records in {self.settings.events_stream}{LOST_SUFFIX}")]

    # --- running ------------------------------------------------------------------
    def findings(self, now: datetime | None = None) -> list[Finding]:
        """Measure the window ending at ``now`` and return what is anomalous."""
        now = now or datetime.now(UTC)
        self.last_measurements = {}
        steps: list[Callable[[datetime], list[Finding]]] = [self._overall, self._queues, self._lost_events]
        steps += [lambda moment, p=p: self._latency(moment, p) for p in PATHS]  # type: ignore[misc]
        out: list[Finding] = []
        for step in steps:
            out.extend(step(now))
        return out

    def _recent_keys(self, now: datetime) -> set[tuple[Any, ...]]:
        cooldown = self.settings.anomaly_cooldown_seconds
        if not cooldown:
            return set()
        recent = self.store.list_alerts(limit=1000, window=TimeWindow(now - timedelta(seconds=cooldown), now))
        return {(a.get("metric"), a.get("path"), a.get("severity")) for a in recent}

    def run(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Check now; store and log one alert per new anomaly (repeats within the cooldown are skipped).

        Returns:
            The alerts stored by this run.
        """
        now = now or datetime.now(UTC)
        findings = self.findings(now)
        recent = self._recent_keys(now) if findings else set()
        window = {"since": iso(now - timedelta(seconds=self.settings.anomaly_window_seconds)), "until": iso(now),
                  "seconds": self.settings.anomaly_window_seconds}
        alerts, holding = [], []
        for f in findings:
            alert = make_alert(metric=f.metric, severity=f.severity, value=f.value, threshold=f.threshold,
                               baseline=f.baseline, window=window, message=f.message, path=f.path, now=now)
            holding.append(alert)
            if (f.metric, f.path, f.severity) in recent:
                continue
            emit(self.store, alert)
            alerts.append(alert)
        if self.router is not None:  # told of everything that holds, stored now or within the cooldown
            self.router.update("anomaly", holding, now)
        logger.info("anomaly check", extra={"event": "anomaly_check", "alerts": len(alerts),
                                            "findings": len(findings), "measurements": self.last_measurements})
        return alerts
