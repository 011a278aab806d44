"""Checks Evidently does not make: shares of missing and of special values.

Evidently's drift tests drop missing values, so a feature that goes missing
twice as often looks stable to them. These checks compare the two shares
directly: drift when the absolute change reaches a threshold (a size that
matters to the credit team) *and* a two-proportion z-test says the change is
not sampling noise (which matters on small windows only).
"""

from __future__ import annotations

import math


def two_proportion_z(p_ref: float, n_ref: int, p_cur: float, n_cur: int) -> float:
    """Absolute z statistic of the difference of two proportions (pooled variance)."""
    if n_ref <= 0 or n_cur <= 0:
        return 0.0
    pooled = (p_ref * n_ref + p_cur * n_cur) / (n_ref + n_cur)
    variance = pooled * (1 - pooled) * (1 / n_ref + 1 / n_cur)
    if variance <= 0:
        # Both shares are 0 or both are 1: no difference; otherwise impossible.
        return 0.0 if p_ref == p_cur else math.inf
    return abs(p_cur - p_ref) / math.sqrt(variance)


def share_drifted(p_ref: float, n_ref: int, p_cur: float, n_cur: int, threshold: float, min_z: float) -> bool:
    """True when the share moved by at least ``threshold`` and the move is significant."""
    return abs(p_cur - p_ref) >= threshold and two_proportion_z(p_ref, n_ref, p_cur, n_cur) >= min_z
