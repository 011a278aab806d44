"""Aggregation bodies of the monitoring queries, and the parsing of their answers.

Pure functions (no client), so that the shape of each query can be read in
one place. Core aggregations only: filter, terms, avg, percentiles, range,
date_histogram.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from shared.store import common
from shared.store.base import OpsBucket, TimeWindow

_OPS_PERCENTS = (50.0, 95.0, 99.0)
SCORE_PERCENTS = (10.0, 50.0, 90.0)  # the spread of the scores per bucket (OpsBucket.score_p10/p50/p90)


def _percentiles(field: str, percents: Sequence[float]) -> dict[str, Any]:
    return {"percentiles": {"field": field, "percents": list(percents), "keyed": False}}


def _percentile_values(agg: dict[str, Any]) -> list[float | None]:
    return [item.get("value") for item in agg.get("values", [])]


def operations_aggs(window: TimeWindow, interval: timedelta) -> dict[str, Any]:
    """Buckets of ``interval`` starting at ``window.since``.

    Per bucket: counts by status and decision; over the scored events, the mean score and
    the score and timing percentiles.
    """
    since, until = common.window_ms(window)
    width = common.interval_ms(interval)
    return {
        "buckets": {
            "date_histogram": {
                "field": "timestamp",
                "fixed_interval": f"{width}ms",
                "offset": f"{since % width}ms",
                "min_doc_count": 0,
                "extended_bounds": {"min": since, "max": until - 1},
            },
            "aggs": {
                "status": {"terms": {"field": "status", "size": 10}},
                "scored": {
                    "filter": {"term": {"status": "ok"}},
                    "aggs": {
                        "decision": {"terms": {"field": "decision", "size": 10}},
                        "mean_score": {"avg": {"field": "score"}},
                        "score": _percentiles("score", SCORE_PERCENTS),
                        "total": _percentiles("timings.total_ms", _OPS_PERCENTS),
                        "inference": _percentiles("timings.inference_ms", _OPS_PERCENTS),
                        "queue_wait": _percentiles("timings.queue_wait_ms", (95.0,)),
                    },
                },
            },
        }
    }


def parse_operations(response: dict[str, Any], window: TimeWindow, interval: timedelta) -> list[OpsBucket]:
    """The :class:`OpsBucket` list of an :func:`operations_aggs` answer (every bucket, empty ones too)."""
    by_start = {int(b["key"]): b for b in response.get("aggregations", {}).get("buckets", {}).get("buckets", [])}
    result = []
    for start in common.bucket_starts(window, interval):
        bucket = OpsBucket(start=common.from_ms(start))
        raw = by_start.get(start)
        if raw is not None:
            status = {b["key"]: b["doc_count"] for b in raw["status"]["buckets"]}
            scored = raw["scored"]
            decisions = {b["key"]: b["doc_count"] for b in scored["decision"]["buckets"]}
            bucket.count = raw["doc_count"]
            bucket.ok, bucket.invalid, bucket.errors = status.get("ok", 0), status.get("invalid", 0), status.get(
                "error", 0)
            bucket.approved, bucket.refused = decisions.get("approved", 0), decisions.get("refused", 0)
            bucket.mean_score = scored["mean_score"].get("value")
            bucket.score_p10, bucket.score_p50, bucket.score_p90 = _percentile_values(scored["score"])
            bucket.latency_p50, bucket.latency_p95, bucket.latency_p99 = _percentile_values(scored["total"])
            bucket.inference_p50, bucket.inference_p95, bucket.inference_p99 = _percentile_values(
                scored["inference"])
            (bucket.queue_wait_p95,) = _percentile_values(scored["queue_wait"])
        result.append(bucket)
    return result


def percentiles_aggs(field: str, percentiles: Sequence[float]) -> dict[str, Any]:
    """Percentiles of one timing field."""
    return {"p": _percentiles(f"timings.{field}", [float(q) for q in percentiles])}


def parse_percentiles(response: dict[str, Any], percentiles: Sequence[float]) -> dict[float, float | None]:
    """``{q: value}`` in the caller's order and keys."""
    values = _percentile_values(response.get("aggregations", {}).get("p", {}))
    if len(values) != len(percentiles):
        return dict.fromkeys(percentiles)
    return dict(zip(percentiles, values, strict=True))


def histogram_aggs(bins: int) -> dict[str, Any]:
    """Score counts in ``bins`` equal bins over [0, 1] as ranges (lower included, upper excluded; 1.0 in the last)."""
    edges = common.histogram_edges(bins)
    ranges = [{"from": edges[i], "to": edges[i + 1]} for i in range(bins)]
    ranges[-1]["to"] = math.nextafter(1.0, 2.0)  # so that a score of exactly 1.0 counts
    return {"bins": {"range": {"field": "score", "ranges": ranges, "keyed": False}}}


def parse_histogram(response: dict[str, Any], bins: int) -> list[tuple[float, float, int]]:
    """``(lower, upper, count)`` per bin."""
    edges = common.histogram_edges(bins)
    raw = response.get("aggregations", {}).get("bins", {}).get("buckets", [])
    counts = [b["doc_count"] for b in raw] if len(raw) == bins else [0] * bins
    return [(edges[i], edges[i + 1], counts[i]) for i in range(bins)]


def decision_aggs() -> dict[str, Any]:
    """Counts per decision."""
    return {"decision": {"terms": {"field": "decision", "size": 10}}}


def parse_decisions(response: dict[str, Any]) -> dict[str, int]:
    """``{"approved": n, "refused": m}`` (zeros included)."""
    counts = dict.fromkeys(common.DECISIONS, 0)
    for bucket in response.get("aggregations", {}).get("decision", {}).get("buckets", []):
        counts[bucket["key"]] = bucket["doc_count"]
    return counts
