"""Fairness of the decisions by group: age band and ``CODE_GENDER``.

One module for the build (model card, promotion gate) and the monitoring
(performance over time), so the groups and the ratios are computed the same
way everywhere.

Written with numpy rather than fairlearn's ``MetricFrame``: ``shared/`` is in
every image, the gateway's included, and fairlearn would bring pandas and
scikit-learn into it for three counts per group. The metrics are the ones
``MetricFrame`` gives with ``selection_rate``, ``true_positive_rate`` and
``false_positive_rate``, where "selected" is an approval and "positive" a
default.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("<25", 0, 25),
    ("25-34", 25, 35),
    ("35-44", 35, 45),
    ("45-54", 45, 55),
    ("55-64", 55, 65),
    ("65+", 65, 10_000),
)
AGE_BAND_NAMES: tuple[str, ...] = tuple(name for name, _, _ in AGE_BANDS)
MIN_GROUP_SIZE = 100  # groups smaller than this are reported but left out of the ratio
EXCLUDED_FROM_RATIO = frozenset({"XNA"})  # CODE_GENDER's "not given": reported, never compared
UNKNOWN = "unknown"


def age_years(days_birth: float | None) -> int | None:
    """Age in whole years: floor(-DAYS_BIRTH / 365.25); None when unknown."""
    if days_birth is None or (isinstance(days_birth, float) and math.isnan(days_birth)):
        return None
    return math.floor(-float(days_birth) / 365.25)


def age_band(days_birth: float | None) -> str:
    """The band of an applicant's age (``<25`` ... ``65+``), ``unknown`` when DAYS_BIRTH is missing."""
    age = age_years(days_birth)
    if age is None:
        return UNKNOWN
    for name, low, high in AGE_BANDS:
        if low <= age < high:
            return name
    return AGE_BANDS[0][0] if age < 0 else AGE_BANDS[-1][0]


def age_bands(days_birth: Iterable[float | None]) -> list[str]:
    """:func:`age_band` of each value."""
    return [age_band(value) for value in days_birth]


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def group_metrics(groups: Sequence[Any], approved: Sequence[bool] | np.ndarray,
                  defaulted: Sequence[bool | None] | np.ndarray | None = None) -> dict[str, dict[str, Any]]:
    """Approval rate, true- and false-positive rates of each group.

    A "positive" is a predicted default, i.e. a refusal: TPR is the share of the
    defaulters that were refused, FPR the share of the good clients that were
    refused (the rates the decision threshold trades). Rows whose outcome is
    None count for the approval rate only.

    Args:
        groups: the group of each application (a gender code, an age band).
        approved: the decision of each application.
        defaulted: the known outcome of each application, or None for none.

    Returns:
        ``{group: {"n", "approval_rate", "tpr", "fpr", "n_outcomes"}}``, groups in
        sorted order; ``tpr``/``fpr`` are None where the group has no defaulter /
        no good client with an outcome.
    """
    keys = np.asarray([str(g) for g in groups], dtype=object)
    approved_arr = np.asarray(approved, dtype=bool)
    if len(keys) != len(approved_arr):
        raise ValueError("groups and approved differ in length")
    if defaulted is None:
        known = np.zeros(len(keys), dtype=bool)
        bad = np.zeros(len(keys), dtype=bool)
    else:
        outcome = list(defaulted)
        if len(outcome) != len(keys):
            raise ValueError("groups and defaulted differ in length")
        known = np.asarray([value is not None for value in outcome], dtype=bool)
        bad = np.asarray([bool(value) if value is not None else False for value in outcome], dtype=bool)
    refused = ~approved_arr
    result: dict[str, dict[str, Any]] = {}
    for key in sorted(set(keys.tolist())):
        mask = keys == key
        positives = mask & known & bad
        negatives = mask & known & ~bad
        result[key] = {
            "n": int(mask.sum()),
            "approval_rate": _rate(int((mask & approved_arr).sum()), int(mask.sum())),
            "tpr": _rate(int((positives & refused).sum()), int(positives.sum())),
            "fpr": _rate(int((negatives & refused).sum()), int(negatives.sum())),
            "n_outcomes": int((mask & known).sum()),
        }
    return result


def disparate_impact(metrics: dict[str, dict[str, Any]], min_size: int = MIN_GROUP_SIZE) -> float | None:
    """Lowest approval rate over the highest, among groups of at least ``min_size`` applications.

    ``XNA`` and ``unknown`` are left out. None when fewer than two groups qualify
    or the highest approval rate is 0.
    """
    rates = [
        values["approval_rate"]
        for group, values in metrics.items()
        if group not in EXCLUDED_FROM_RATIO and group != UNKNOWN
        and values["n"] >= min_size and values["approval_rate"] is not None
    ]
    if len(rates) < 2 or max(rates) == 0:
        return None
    return min(rates) / max(rates)


def fairness_report(code_gender: Sequence[Any], days_birth: Sequence[float | None], approved: Sequence[bool],
                    defaulted: Sequence[bool | None] | None = None,
                    min_size: int = MIN_GROUP_SIZE) -> dict[str, Any]:
    """The fairness table: metrics per gender and per age band, and both disparate-impact ratios.

    Returns:
        ``{"CODE_GENDER": {...}, "age_band": {...}, "disparate_impact": {"CODE_GENDER": r, "age_band": r}}``
    """
    genders = [UNKNOWN if g is None else str(g) for g in code_gender]
    by_gender = group_metrics(genders, approved, defaulted)
    by_age = group_metrics(age_bands(days_birth), approved, defaulted)
    return {
        "CODE_GENDER": by_gender,
        "age_band": by_age,
        "disparate_impact": {
            "CODE_GENDER": disparate_impact(by_gender, min_size),
            "age_band": disparate_impact(by_age, min_size),
        },
    }
