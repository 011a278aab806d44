"""Anomaly rules on the resource samples: a limit, and a baseline where growth is the question.

Each rule compares the newest round of samples (:mod:`monitoring.resources`)
with a fixed limit and, where a slow change matters more than a level, with
the median of the same series over the previous hour (the baseline):

- ``memory_growth`` (each process's resident memory): warning above
  ``memory_growth_factor`` x its baseline and at least ``memory_growth_min_bytes``
  more; critical above ``process_memory_max_bytes``.
- ``cpu_saturation`` (host CPU, percent of all cores): warning when the median of
  the last ``cpu_samples`` samples is at or above ``host_cpu_max_percent``.
- ``es_heap`` (each Elasticsearch node's JVM heap): warning at 85 %, critical at 95 %.
- ``disk_watermark`` (disk used on each Elasticsearch node): warning at the low
  watermark (85 %: no new shards allocated there), critical at the high one
  (90 %: shards are moved away).

Alerts are stored like the other anomalies (``store.save_alert``), and a
repeat within ``cooldown_s`` is skipped.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from monitoring.alerts import iso, make_alert
from shared.store.base import EventStore, TimeWindow

logger = logging.getLogger("monitoring.resource_rules")
MIB = 1024 * 1024


@dataclass(frozen=True)
class ResourceLimits:
    """The limits of the resource rules (defaults fit the 2-core machines the stack is measured on)."""

    process_memory_max_bytes: int = 2048 * MIB
    memory_growth_factor: float = 1.5
    memory_growth_min_bytes: int = 100 * MIB
    host_cpu_max_percent: float = 90.0
    cpu_samples: int = 5
    es_heap_max_percent: float = 85.0
    es_heap_critical_percent: float = 95.0
    disk_low_watermark_percent: float = 85.0
    disk_high_watermark_percent: float = 90.0
    baseline: timedelta = timedelta(hours=1)
    min_baseline_samples: int = 5
    cooldown_s: int = 900


@dataclass(frozen=True)
class ResourceFinding:
    """One broken rule."""

    metric: str
    subject: str
    severity: str
    value: float
    threshold: float | None
    baseline: float | None
    message: str


def _median(values: Sequence[float | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return statistics.median(present) if present else None


def _key(sample: dict[str, Any]) -> str:
    if sample["kind"] == "process":
        return f"{sample.get('service')}/{sample.get('pid')}"
    if sample["kind"] == "elasticsearch":
        return f"es/{sample.get('node')}"
    return str(sample["kind"])


class ResourceRules:
    """Checks a round of samples against the limits and the previous hour.

    Args:
        store: resource samples are read from it, alerts written to it.
        limits: the limits (defaults: :class:`ResourceLimits`).
    """

    def __init__(self, store: EventStore, limits: ResourceLimits | None = None) -> None:
        self.store = store
        self.limits = limits or ResourceLimits()

    def findings(self, current: Sequence[dict[str, Any]], history: Sequence[dict[str, Any]]) -> list[ResourceFinding]:
        """The broken rules of ``current`` given the earlier samples ``history`` (oldest first)."""
        lim = self.limits
        series: dict[str, list[dict[str, Any]]] = {}
        for sample in history:
            series.setdefault(_key(sample), []).append(sample)
        out: list[ResourceFinding] = []
        for sample in current:
            key, kind, past = _key(sample), sample["kind"], series.get(_key(sample), [])
            if kind == "process" and sample.get("rss_bytes") is not None:
                rss = float(sample["rss_bytes"])
                base = _median([p.get("rss_bytes") for p in past]) if len(past) >= lim.min_baseline_samples else None
                if rss > lim.process_memory_max_bytes:
                    out.append(ResourceFinding("memory_growth", key, "critical", rss, lim.process_memory_max_bytes,
                                               base, f"{key} holds {rss / MIB:,.0f} MiB, over the "
                                                     f"{lim.process_memory_max_bytes / MIB:,.0f} MiB limit"))
                elif base and rss > lim.memory_growth_factor * base and rss - base >= lim.memory_growth_min_bytes:
                    out.append(ResourceFinding("memory_growth", key, "warning", rss, None, base,
                                               f"{key} grew to {rss / MIB:,.0f} MiB from a {base / MIB:,.0f} MiB "
                                               "baseline over the last hour (a leak?)"))
            elif kind == "host" and sample.get("cpu_percent") is not None:
                recent = [p.get("cpu_percent") for p in past[-(lim.cpu_samples - 1):]] + [sample["cpu_percent"]]
                level = _median(recent)
                if len(recent) >= lim.cpu_samples and level is not None and level >= lim.host_cpu_max_percent:
                    out.append(ResourceFinding("cpu_saturation", key, "warning", level, lim.host_cpu_max_percent,
                                               _median([p.get("cpu_percent") for p in past]),
                                               f"host CPU at {level:.0f} % over the last {lim.cpu_samples} samples"))
            elif kind == "elasticsearch":
                heap, disk = sample.get("heap_percent"), sample.get("disk_used_percent")
                if heap is not None and heap >= lim.es_heap_max_percent:
                    severity = "critical" if heap >= lim.es_heap_critical_percent else "warning"
                    out.append(ResourceFinding("es_heap", key, severity, float(heap), lim.es_heap_max_percent,
                                               _median([p.get("heap_percent") for p in past]),
                                               f"{key} JVM heap at {heap:.0f} %"))
                if disk is not None and disk >= lim.disk_low_watermark_percent:
                    high = disk >= lim.disk_high_watermark_percent
                    out.append(ResourceFinding(
                        "disk_watermark", key, "critical" if high else "warning", float(disk),
                        lim.disk_high_watermark_percent if high else lim.disk_low_watermark_percent,
                        _median([p.get("disk_used_percent") for p in past]),
                        f"{key} disk {disk:.1f} % used: past the {'high' if high else 'low'} watermark"))
        return out

    def run(self, current: Sequence[dict[str, Any]], now: datetime | None = None) -> list[dict[str, Any]]:
        """Check a stored round of samples; store and log one alert per new finding."""
        now = now or datetime.now(UTC)
        window = TimeWindow(now - self.limits.baseline, now - timedelta(seconds=1))
        current_ids = {s["sample_id"] for s in current}
        history = [s for s in self.store.list_resources(window) if s["sample_id"] not in current_ids]
        recent = {(a.get("metric"), a.get("subject"), a.get("severity")) for a in self.store.list_alerts(
            limit=1000, window=TimeWindow(now - timedelta(seconds=self.limits.cooldown_s), now + timedelta(1)))}
        alerts = []
        for f in self.findings(current, history):
            if (f.metric, f.subject, f.severity) in recent:
                continue
            alert = make_alert(metric=f.metric, severity=f.severity, value=f.value, threshold=f.threshold,
                               baseline=f.baseline, message=f.message, now=now, subject=f.subject, path=f.subject,
                               window={"since": iso(window.since), "until": iso(now)})
            self.store.save_alert(alert)
            logger.warning(f.message, extra={"event": "resource_alert", "metric": f.metric, "subject": f.subject})
            alerts.append(alert)
        return alerts
