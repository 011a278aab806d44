"""Exponential back-off: the pauses between retries of a loop that waits for a server to come back."""

from __future__ import annotations


def next_delay(previous_s: float, first_s: float, max_s: float) -> float:
    """The pause before the next retry: ``first_s`` after a success, then doubled at each failure, at most ``max_s``.

    Args:
        previous_s: the last pause (0 when the last attempt succeeded).
        first_s: the first pause.
        max_s: the longest pause.

    Returns:
        The pause in seconds.
    """
    return min(max_s, max(first_s, previous_s * 2))
