"""The drift tests' arithmetic against SciPy's functions it stands in for."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon as scipy_jensenshannon
from scipy.special import rel_entr as scipy_rel_entr

from monitoring.drift.stattests import jensenshannon, rel_entr


def test_rel_entr_is_scipys_in_every_case() -> None:
    x = np.array([0.2, 0.0, 0.0, 0.3, -0.1, 0.5, np.nan, 0.4, 1e-300, 0.7])
    y = np.array([0.1, 0.3, 0.0, 0.0, 0.2, -0.5, 0.2, np.nan, 1e300, 0.7])
    ours, theirs = rel_entr(x, y), scipy_rel_entr(x, y)
    assert np.array_equal(np.isnan(ours), np.isnan(theirs)) and np.array_equal(np.isinf(ours), np.isinf(theirs))
    finite = np.isfinite(theirs)
    assert ours[finite] == pytest.approx(theirs[finite], rel=1e-15, abs=0)


def test_jensenshannon_is_scipys() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        p, q = rng.random(12), rng.random(12)
        p[rng.random(12) < 0.3] = 0.0
        assert jensenshannon(p, q) == pytest.approx(float(scipy_jensenshannon(p, q)), rel=1e-14)


def test_wasserstein_norm_is_scipys_distance_over_the_norm_with_ties_and_lattices() -> None:
    from scipy.stats import wasserstein_distance

    from monitoring.drift.stattests import prepare_reference, wasserstein_norm

    rng = np.random.default_rng(5)
    cases = [(rng.normal(size=500), rng.normal(0.3, 1.2, size=800)),
             (rng.integers(0, 12, size=400).astype(float), rng.integers(0, 15, size=900).astype(float)),  # ties
             (np.round(rng.random(300), 1), rng.random(250)),  # a lattice against continuous values
             (np.zeros(50), np.array([0.0, 0.0, 1.0]))]
    for reference, current in cases:
        expected = wasserstein_distance(reference, current) / max(float(np.std(reference)), 0.001)
        assert wasserstein_norm(prepare_reference(reference), current) == pytest.approx(expected, rel=1e-12)
