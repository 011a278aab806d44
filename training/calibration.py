"""Fitted constants of the synthetic generator, computed once from the profile.

Everything here is derived from ``shared.columns.profile()`` (figures only):
the inverse CDFs, the latent Gaussian correlation of the key columns (with the
target's liability), the age at which applicants become pensioners and the
target effects of the categorical columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from shared.columns import DAYS_EMPLOYED_UNEMPLOYED, TARGET, feature_columns, profile
from training.marginals import (
    Marginal,
    binary_spearman_to_pearson,
    nearest_correlation,
    normal_cdf,
    spearman_to_pearson,
)

# The profile's Spearman figures for DAYS_EMPLOYED are those of the employed
# (365243 left out), so the copula's DAYS_EMPLOYED is the employed's value and
# the pensioners are drawn apart, by age.
# Partial (conditional) effect of a column on the target's liability. Taken
# alone, the profile's pairwise figures make age *raise* the risk once the
# external scores are known (EXT_SOURCE_1 and age are strongly linked), which
# contradicts what models on the real table learn (younger is riskier at equal
# scores). The age-target link is raised just enough for this partial effect
# (on DAYS_BIRTH, so positive = younger riskier): the marginal Spearman goes from
# the profile's 0.07 to about 0.12, still below the EXT_SOURCE ones.
PARTIAL_TARGET_EFFECTS = {"DAYS_BIRTH": 0.05}
# Weight of the categorical columns' target effects (logit differences shrunk
# towards the mean rate) in the target's liability, on the probit scale.
CATEGORY_EFFECT_WEIGHT = 0.45
# Effects already carried by a copula column (pensioners are old, and age lowers the risk).
_NO_EFFECT = frozenset({("NAME_INCOME_TYPE", "Pensioner"), ("ORGANIZATION_TYPE", "XNA")})
# Pensioners: probability of being one rises with age, logistic of this width.
PENSION_AGE_WIDTH_YEARS = 2.5
# Shrinkage of the profiled per-category target rates (pseudo-count of rows).
_PSEUDO_ROWS = 150.0


@dataclass(frozen=True)
class Calibration:
    """Constants the generator needs (one instance per process, see :func:`calibration`)."""

    marginals: dict[str, Marginal]
    worker_days_employed: Marginal
    copula_columns: tuple[str, ...]
    copula_cholesky: np.ndarray
    not_employed_rate: float
    pension_age: float
    category_effects: dict[str, dict[str, float]]
    liability_threshold: float
    target_rate: float


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _category_effects(columns: dict[str, Any], rate: float, rows: int) -> dict[str, dict[str, float]]:
    effects: dict[str, dict[str, float]] = {}
    for name, figures in columns.items():
        rates = figures.get("target_rate_by_category")
        if figures["kind"] != "categorical" or not rates:
            continue
        by_value = {}
        for value, target_rate in rates.items():
            if (name, value) in _NO_EFFECT:
                continue
            count = figures["frequencies"].get(value, 0.0) * (1 - figures["missing_rate"]) * rows
            shrunk = (count * target_rate + _PSEUDO_ROWS * rate) / (count + _PSEUDO_ROWS)
            by_value[value] = CATEGORY_EFFECT_WEIGHT * (_logit(shrunk) - _logit(rate)) / 1.7
        effects[name] = by_value
    return effects


def _effect_samples(effects: dict[str, dict[str, float]], columns: dict[str, Any], n: int) -> np.ndarray:
    """Draws of the summed categorical effect, columns drawn independently."""
    rng = np.random.default_rng(20240601)
    total = np.zeros(n)
    for name, by_value in effects.items():
        figures = columns[name]
        values = list(figures["frequencies"])
        probs = np.array([figures["frequencies"][v] for v in values]) * (1 - figures["missing_rate"])
        weights = np.append(probs, max(0.0, 1 - probs.sum()))  # last slot: missing, no effect
        table = np.array([by_value.get(v, 0.0) for v in values] + [0.0])
        total += table[rng.choice(len(table), size=n, p=weights / weights.sum())]
    return total


def _solve_threshold(effects: np.ndarray, rate: float) -> float:
    """t such that P(Z + C > t) = rate, Z standard normal independent of C."""
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if float(np.mean(1 - normal_cdf(mid - effects))) > rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _pension_age(age_marginal: Marginal, share: float) -> float:
    """Age (years) at the middle of the logistic so that ``share`` of applicants are pensioners."""
    grid = (np.arange(4000) + 0.5) / 4000
    ages = -age_marginal(grid) / 365.25
    return solve_pension_age(ages, share)


def solve_pension_age(ages: np.ndarray, share: float) -> float:
    """Centre of the pension logistic giving a mean probability ``share`` over ``ages``."""
    lo, hi = 0.0, 150.0
    for _ in range(60):
        mid = (lo + hi) / 2
        mean = float(np.mean(pension_probability(ages, mid)))
        if mean > share:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def pension_probability(ages: np.ndarray, centre: float) -> np.ndarray:
    """Probability of being a pensioner at each age (years)."""
    return 1.0 / (1.0 + np.exp(-(ages - centre) / PENSION_AGE_WIDTH_YEARS))


def _set_partial_effect(latent: np.ndarray, target: int, column: int, effect: float) -> None:
    """Change corr(target, column) so the column's regression weight on the target is ``effect``.

    The weights are ``inv(S) r`` (S: correlations among the predictors, r: their
    correlations with the target), linear in r, so one step solves it exactly.
    """
    others = [i for i in range(len(latent)) if i != target]
    inverse = np.linalg.inv(latent[np.ix_(others, others)])
    weights = inverse @ latent[others, target]
    k = others.index(column)
    value = latent[column, target] + (effect - weights[k]) / inverse[k, k]
    latent[column, target] = latent[target, column] = float(np.clip(value, -0.9, 0.9))


@cache
def calibration() -> Calibration:
    """The generator's constants, computed once per process (about 0.1 s)."""
    prof = profile()
    columns = prof["columns"]
    rate = float(prof["target_rate"])
    marginals = {
        c.name: Marginal.from_profile(columns[c.name], integer=c.kind != "continuous")
        for c in feature_columns()
        if c.kind in ("integer", "continuous")
    }
    special = prof["special_values"]["DAYS_EMPLOYED"]
    not_employed = float(special[str(DAYS_EMPLOYED_UNEMPLOYED)])
    worker = marginals["DAYS_EMPLOYED"].truncated(1.0 - not_employed, top=0.0)

    effects = _category_effects(columns, rate, int(prof["n_rows_profiled"]))
    draws = _effect_samples(effects, columns, 50_000)
    inflate = math.sqrt(1.0 + float(np.var(draws)))  # the effects dilute the copula's target links

    spearman = prof["spearman_correlations"]
    names = tuple(spearman["columns"])
    rho = np.array(spearman["matrix"], dtype=float)
    latent = spearman_to_pearson(rho)
    t = names.index(TARGET)
    for j in range(len(names)):
        if j != t:
            r = binary_spearman_to_pearson(float(rho[t, j]), rate) * inflate
            latent[t, j] = latent[j, t] = float(np.clip(r, -0.9, 0.9))
    np.fill_diagonal(latent, 1.0)
    for name, effect in PARTIAL_TARGET_EFFECTS.items():
        _set_partial_effect(latent, t, names.index(name), effect)
    cholesky = np.linalg.cholesky(nearest_correlation(latent))
    pension_share = float(columns["NAME_INCOME_TYPE"]["frequencies"]["Pensioner"])

    return Calibration(
        marginals=marginals,
        worker_days_employed=worker,
        copula_columns=names,
        copula_cholesky=cholesky,
        not_employed_rate=not_employed,
        pension_age=_pension_age(marginals["DAYS_BIRTH"], pension_share),
        category_effects=effects,
        liability_threshold=_solve_threshold(draws, rate),
        target_rate=rate,
    )
