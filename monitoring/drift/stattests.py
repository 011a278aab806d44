"""Evidently's drift tests, called the way its ``ValueDrift`` metric calls them.

``ValueDrift`` runs exactly these ``StatTest`` objects, then builds plotly
widgets for every column inside ``calculate`` (70-130 ms per column whatever
the window size) and copies the whole current frame once per numeric column.
Measured on 100k events x 120 features: 18-42 s through ``ValueDrift`` versus
about 6 s for the same tests called directly, with identical values
(``tests/monitoring/test_drift_calculator.py`` checks the equality). So the
numbers come from here, and ``ValueDrift`` is kept for the HTML report, where
it runs on the features worth a picture.
"""

from __future__ import annotations

import os

os.environ.setdefault("DO_NOT_TRACK", "1")  # Evidently telemetry off unless asked for

import pandas as pd  # noqa: E402
from evidently.legacy.calculations.stattests import (  # noqa: E402
    jensenshannon_stat_test,
    psi_stat_test,
    wasserstein_stat_test,
)
from evidently.legacy.core import ColumnType  # noqa: E402

from monitoring.drift.plan import JENSEN_SHANNON, PSI, WASSERSTEIN  # noqa: E402

_TESTS = {WASSERSTEIN: wasserstein_stat_test, JENSEN_SHANNON: jensenshannon_stat_test, PSI: psi_stat_test}


def run_test(test: str, reference: pd.Series, current: pd.Series, threshold: float,
             discrete: bool) -> tuple[float, bool]:
    """Run one Evidently test on two non-empty, NaN-free series.

    Returns:
        (value, drifted): the distance (or PSI) and Evidently's verdict (value >= threshold).
    """
    column_type = ColumnType.Categorical if discrete else ColumnType.Numerical
    outcome = _TESTS[test](reference, current, column_type, threshold)
    return float(outcome.drift_score), bool(outcome.drifted)
