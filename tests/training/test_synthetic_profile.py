"""Every column of the synthetic generator against the real table's profile: one test per column.

Quantiles (with their ties: a profiled quantile q at level p needs F(q-) <= p <= F(q)),
distinct values (integers, lattices, categories, flags), shares of zeros and of
missing values. The drift monitoring compares real applications with a reference
drawn from this generator, so a column off its profile is a column that drifts
on untouched real data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from shared.columns import DAYS_EMPLOYED_UNEMPLOYED, feature_columns, profile
from training.marginals import lattice_step
from training.synthetic import generate

ROWS = 30_000
QUANTILE_TOLERANCE = 0.04  # of cumulative probability; the sampling noise at 30,000 rows is about 0.003
SHARE_TOLERANCE = 0.02
LEVELS = ("0.01", "0.05", "0.1", "0.25", "0.5", "0.75", "0.9", "0.95", "0.99")
COLUMNS = [c.name for c in feature_columns()]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate(ROWS, seed=23)


def _figures(name: str) -> dict[str, Any]:
    return profile()["columns"][name]  # type: ignore[no-any-return]


def test_the_lattice_columns_are_the_building_counts() -> None:
    steps = {name: lattice_step(_figures(name)) for name in COLUMNS}
    lattices = {name: round(1 / step) for name, step in steps.items() if step}
    assert {n for n in lattices if n.startswith(("FLOORSMAX", "FLOORSMIN"))} == {
        f"{f}_{s}" for f in ("FLOORSMAX", "FLOORSMIN") for s in ("AVG", "MODE", "MEDI")}
    assert lattices["FLOORSMAX_MODE"] == 24 and lattices["ENTRANCES_MODE"] == 29 and lattices["ELEVATORS_MEDI"] == 25
    assert "ELEVATORS_AVG" not in lattices  # an average over buildings: off the lattice
    assert not {n for n in lattices if not n.startswith(("FLOORS", "ENTRANCES", "ELEVATORS"))}


@pytest.mark.parametrize("name", COLUMNS)
def test_column_matches_the_profile(frame: pd.DataFrame, name: str) -> None:
    f = _figures(name)
    series = frame[name]
    assert abs(series.isna().mean() - f["missing_rate"]) <= SHARE_TOLERANCE, "missing share"
    values = series.dropna()
    kind = f["kind"]
    if kind == "categorical":
        seen = values.value_counts(normalize=True)
        assert set(seen.index) <= set(f["frequencies"]), "unknown categories"
        far = {v: (round(seen.get(v, 0.0), 4), share) for v, share in f["frequencies"].items()
               if abs(seen.get(v, 0.0) - share) > SHARE_TOLERANCE}
        assert far == {}, "category shares"
        return
    if kind == "binary_flag":
        assert set(values.unique()) <= {0, 1}
        assert abs(values.mean() - f["one_rate"]) <= 0.015, "share of ones"
        return
    numbers = values.to_numpy(dtype=float)
    if name == "DAYS_EMPLOYED":  # its profile counts the 365243 placeholder of the not employed
        share = profile()["special_values"]["DAYS_EMPLOYED"][str(DAYS_EMPLOYED_UNEMPLOYED)]
        assert abs(np.mean(numbers == DAYS_EMPLOYED_UNEMPLOYED) - share) <= SHARE_TOLERANCE
    # quantiles, ties included
    far = {}
    for level in LEVELS:
        p, q = float(level), float(f["quantiles"][level])
        below, at_most = float(np.mean(numbers < q - 1e-9)), float(np.mean(numbers <= q + 1e-9))
        if below > p + QUANTILE_TOLERANCE or at_most < p - QUANTILE_TOLERANCE:
            far[level] = (q, round(below, 3), round(at_most, 3))
    assert far == {}, "quantiles: (value, F(q-), F(q))"
    assert abs(np.mean(numbers == 0) - f["zero_rate"]) <= 0.03, "share of zeros"
    # distinct values
    assert numbers.min() >= f["min"] - 1e-9 and numbers.max() <= max(f["max"], DAYS_EMPLOYED_UNEMPLOYED), "range"
    step = lattice_step(f)
    if kind == "integer":
        assert np.all(numbers == np.round(numbers)), "whole numbers"
    elif step:
        cells = numbers / step
        on_lattice = np.abs(numbers - np.round(np.round(cells) * step, 4)) < 1e-9
        assert np.all(on_lattice | (numbers == f["max"])), "on the lattice (or the column's maximum)"
        profiled = {round(float(f["quantiles"][level]), 4) for level in LEVELS}
        assert profiled <= set(np.round(numbers, 4)), "every profiled quantile is a value of the column"
        assert len(np.unique(numbers)) <= round(1 / step) + 1
    else:
        assert len(np.unique(numbers)) >= min(100, len(numbers) // 10), "a continuous column"
