"""Small helpers both adapters share, so that they cut time and scores the same way."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from shared.store.base import TimeWindow

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DECISIONS = ("approved", "refused")
TIMING_QUERY_FIELDS = ("validation_ms", "queue_wait_ms", "inference_ms", "total_ms")


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime (a naive one is taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of a datetime (naive = UTC), exact."""
    return (as_utc(moment) - EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int | float) -> datetime:
    """The UTC datetime of epoch milliseconds."""
    return EPOCH + timedelta(milliseconds=ms)


def window_ms(window: TimeWindow) -> tuple[int, int]:
    """``(since, until)`` of a window in epoch milliseconds."""
    return to_ms(window.since), to_ms(window.until)


def interval_ms(interval: timedelta) -> int:
    """A bucket width in whole milliseconds.

    Raises:
        ValueError: when the interval is shorter than one millisecond.
    """
    width = interval // timedelta(milliseconds=1)
    if width < 1:
        raise ValueError(f"interval must be at least 1 ms, got {interval}")
    return width


MAX_BUCKETS = 10_000


def bucket_starts(window: TimeWindow, interval: timedelta) -> list[int]:
    """Start (epoch ms) of every bucket of ``interval`` from ``window.since`` up to ``window.until``.

    Raises:
        ValueError: when the window holds more than ``MAX_BUCKETS`` buckets (Elasticsearch would refuse them).
    """
    since, until = window_ms(window)
    width = interval_ms(interval)
    count = max(0, -(-(until - since) // width))
    if count > MAX_BUCKETS:
        raise ValueError(f"{count} buckets of {interval} in the window: at most {MAX_BUCKETS}, take a longer interval")
    return list(range(since, until, width))


def histogram_edges(bins: int) -> list[float]:
    """``bins + 1`` equal edges over [0, 1]; a bin holds lower <= score < upper (the last one also 1.0).

    Raises:
        ValueError: when ``bins`` is not positive.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    return [i / bins for i in range(bins + 1)]


def cutoff_day(days: int, now: datetime | None) -> date:
    """First UTC day kept by a retention of ``days``: days before it are dropped whole.

    Raises:
        ValueError: when ``days`` is below 1.
    """
    if days < 1:
        raise ValueError(f"retention days must be >= 1, got {days}")
    return (as_utc(now or datetime.now(UTC)) - timedelta(days=days)).date()


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Percentile ``q`` (0-100) of sorted values, linearly interpolated; None when empty."""
    if not sorted_values:
        return None
    rank = (len(sorted_values) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return float(sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low))


def check_timing_field(field: str) -> None:
    """Refuse a field that is not one of the event's timings.

    Raises:
        ValueError: for any other name (it would otherwise reach SQL or a query).
    """
    if field not in TIMING_QUERY_FIELDS:
        raise ValueError(f"field must be one of {TIMING_QUERY_FIELDS}, got {field!r}")
