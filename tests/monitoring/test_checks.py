"""The share checks Evidently does not make."""

import math

import pytest

from monitoring.drift.checks import share_drifted, two_proportion_z


def test_two_proportion_z_known_value() -> None:
    # 0.10 vs 0.15 with 1000 each: pooled 0.125, se = sqrt(0.125*0.875*0.002) = 0.01479
    assert two_proportion_z(0.10, 1000, 0.15, 1000) == pytest.approx(0.05 / math.sqrt(0.125 * 0.875 * 0.002))


def test_degenerate_shares() -> None:
    assert two_proportion_z(0.0, 100, 0.0, 100) == 0
    assert two_proportion_z(1.0, 100, 1.0, 100) == 0
    assert two_proportion_z(0.5, 0, 0.9, 100) == 0


def test_both_size_and_significance_are_needed() -> None:
    assert share_drifted(0.2, 10_000, 0.3, 10_000, threshold=0.05, min_z=3.29)
    assert not share_drifted(0.2, 10_000, 0.23, 10_000, threshold=0.05, min_z=3.29)  # significant but small
    assert not share_drifted(0.2, 10_000, 0.3, 30, threshold=0.05, min_z=3.29)  # large but 30 rows is noise
