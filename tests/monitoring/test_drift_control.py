"""Drift that does not cry wolf: untouched generator rows flag nothing; lattices and ties are not drift.

The control compares 20 windows of untouched applications (one generator seed
each) with a reference drawn from the same generator: no feature may be
flagged. Small samples (a 6,000-row reference, 600-row windows) keep it fast;
the noise floor scales the thresholds to them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring.drift.calculator import DriftCalculator, DriftConfig
from monitoring.drift.checks import lattice_spacing, resolution_allowance
from training.synthetic import Drift, generate_applications

SEEDS = 20
REFERENCE_ROWS, WINDOW_ROWS = 6000, 600


def _rows(n: int, seed: int, drift: Drift | None = None) -> list[dict]:
    rows = generate_applications(n, seed=seed, drift=drift)
    for row in rows:
        row["score"] = None
    return rows


@pytest.fixture(scope="module")
def calculator() -> DriftCalculator:
    return DriftCalculator(DriftConfig(min_rows=500)).fit(_rows(REFERENCE_ROWS, seed=1000))


@pytest.mark.slow  # about 20 s: 20 windows of 120 features (run by `make test` all the same)
def test_untouched_applications_flag_no_feature_over_twenty_seeds(calculator: DriftCalculator) -> None:
    flagged: dict[int, list[str]] = {}
    closest = 0.0
    for seed in range(SEEDS):
        result = calculator.calculate(_rows(WINDOW_ROWS, seed=seed))
        assert result.status == "ok"
        drifted = sorted({c.name for c in result.checks if c.drifted})
        if drifted:
            flagged[seed] = drifted
        closest = max([closest] + [c.value / c.threshold for c in result.checks if c.value is not None])
    assert flagged == {}
    assert closest > 0.3  # the checks ran and measured something


def test_a_real_shift_is_still_caught_on_the_same_windows(calculator: DriftCalculator) -> None:
    result = calculator.calculate(_rows(WINDOW_ROWS, seed=0, drift=Drift(income_factor=1.5)))
    assert result.drifted_features == ["AMT_INCOME_TOTAL"]


def test_lattice_spacing_sees_ties_not_continuous_samples() -> None:
    rng = np.random.default_rng(0)
    floors = np.round(rng.integers(1, 20, 2000) / 24, 4)
    assert lattice_spacing(floors) == pytest.approx(1 / 24, abs=1e-4)
    assert lattice_spacing(rng.random(2000)) == 0.0
    assert lattice_spacing(rng.random(150)) == 0.0  # few values, but no ties: continuous
    assert lattice_spacing(np.array([0.0, 0.5, 1.0] * 50)) == 0.5
    assert resolution_allowance(1 / 24, 1 / 24, 0.1) == 0.0  # one lattice on both sides: full sensitivity
    assert resolution_allowance(0.0, 0.0, 0.1) == 0.0
    assert resolution_allowance(0.0, 1 / 24, 0.1) == pytest.approx(1 / 24 / 4 / 0.1)


def _one_feature(reference: np.ndarray, current: np.ndarray, name: str = "FLOORSMAX_MODE") -> tuple[bool, float]:
    calc = DriftCalculator(DriftConfig(min_rows=100, min_feature_rows=50, features=[name]))
    calc.fit([{name: float(v), "score": None} for v in reference])
    result = calc.calculate(pd.DataFrame({name: current, "score": np.nan}))
    check = next(c for c in result.checks if c.test == "wasserstein")
    return check.drifted, check.value / check.threshold


def test_a_window_on_a_lattice_against_a_continuous_reference_is_not_drift() -> None:
    rng = np.random.default_rng(1)
    # narrow (sd 0.05) against its 1/24 lattice: rounding alone moves it by ~0.2 of its sd
    reference = np.clip(rng.normal(0.2, 0.05, 8000), 0, 1)
    same = np.round(np.round(np.clip(rng.normal(0.2, 0.05, 3000), 0, 1) * 24) / 24, 4)
    drifted, ratio = _one_feature(reference, same)
    assert not drifted, ratio
    two_floors_up = np.round(np.round(np.clip(rng.normal(0.2 + 2 / 24, 0.05, 3000), 0, 1) * 24) / 24, 4)
    assert _one_feature(reference, two_floors_up)[0]
