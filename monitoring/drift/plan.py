"""Which test each feature gets, decided once from the column kind and the reference.

- continuous numbers, and integers with many values: Wasserstein distance normed
  by the reference's standard deviation. A distance, so a negligible shift on a
  big window is not flagged as p-value tests (KS) would; in units of the spread.
- categories, 0/1 flags, integers with few values: Jensen-Shannon distance over
  the categories. Bounded in [0, 1], symmetric, defined when a category is
  absent on one side.
- the predicted score: PSI (population stability index), the credit industry's
  usual score-stability measure, with its 0.1 / 0.25 rules of thumb.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shared.columns import DAYS_EMPLOYED_UNEMPLOYED, Column

WASSERSTEIN = "wasserstein"
JENSEN_SHANNON = "jensenshannon"
PSI = "psi"
MISSING_SHARE = "missing_share"
SPECIAL_SHARE = "special_value_share"

# Placeholder values that mean "not applicable" and would wreck a distance if
# left in the numbers: analysed as their own share instead.
SPECIAL_VALUES: dict[str, float] = {"DAYS_EMPLOYED": float(DAYS_EMPLOYED_UNEMPLOYED)}


@dataclass
class FeaturePlan:
    """How one feature is compared, and its fitted reference figures."""

    name: str
    kind: str
    test: str
    threshold: float
    discrete: bool
    special_value: float | None = None
    categories: list[Any] = field(default_factory=list)  # kept categories (discrete features)
    edges: np.ndarray | None = None  # histogram bins (continuous features)
    reference: pd.Series | None = None  # cleaned non-missing reference values
    n_reference_rows: int = 0
    missing_share: float = 0.0
    special_share: float = 0.0
    reference_mean: float | None = None
    noise_scale: float = 0.0  # distance between reference halves per unit of sqrt(1/n1 + 1/n2)
    spacing: float = 0.0  # lattice step of the reference values (0: continuous), see checks.lattice_spacing
    reference_std: float = 0.0
    histogram: list[float] = field(default_factory=list)
    prepared: Any = None  # the reference sorted once, and its norm (Wasserstein: stattests.Prepared)


def choose_test(column: Column, reference: pd.Series, discrete_max_values: int) -> tuple[str, bool]:
    """The test of one feature, and whether it is treated as discrete."""
    if column.kind in ("categorical", "flag"):
        return JENSEN_SHANNON, True
    if reference.nunique() <= discrete_max_values:
        return JENSEN_SHANNON, True
    return WASSERSTEIN, False
