"""Seeded synthetic ``application_train`` rows, calibrated on the Home Credit profile.

The key numeric columns (EXT_SOURCE_*, ages, employment, amounts, ...) and the
target's liability come from one Gaussian copula on the profile's Spearman
matrix, each mapped through its profiled inverse CDF; the table's structural
quirks are reproduced: ``DAYS_EMPLOYED = 365243`` exactly for pensioners and
the unemployed (with ``ORGANIZATION_TYPE = "XNA"``, ``FLAG_EMP_PHONE = 0``, no
occupation), car age missing without a car, building statistics missing
together, goods price <= credit and annuity ~ credit / term. The target's
liability also carries the categorical columns' effects (profiled target rate
by category), so a model finds real-looking structure, with EXT_SOURCE first.

``Drift`` moves the data for the monitoring work (income inflated, categories
re-weighted, EXT_SOURCE missing more often, older applicants, larger credits).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shared.columns import (
    CLIENT_ID,
    DAYS_BIRTH_MAX,
    DAYS_BIRTH_MIN,
    DAYS_EMPLOYED_UNEMPLOYED,
    TARGET,
    columns_by_name,
    csv_columns,
    profile,
)
from training.calibration import calibration, pension_probability, solve_pension_age
from training.data import csv_dtypes, to_records
from training.exceptions import DriftError
from training.frames import Frame, building_columns

EXT_SOURCES = ("EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3")
NOT_EMPLOYED_TYPES = ("Pensioner", "Unemployed")
_YEAR = 365.25


@dataclass(frozen=True)
class Drift:
    """How to move generated data away from the training distribution.

    Attributes:
        income_factor: multiplies AMT_INCOME_TOTAL.
        credit_factor: multiplies AMT_CREDIT, and with it AMT_GOODS_PRICE and
            AMT_ANNUITY (so the loans stay consistent).
        category_shift: new frequencies of a categorical column's values, e.g.
            ``{"NAME_CONTRACT_TYPE": {"Cash loans": 0.6, "Revolving loans": 0.4}}``
            (normalised; unlisted values get 0). For NAME_INCOME_TYPE the
            pensioner share moves the employment fields with it.
        ext_source_missing_extra: share of all rows whose EXT_SOURCE_1/2/3
            value is additionally blanked (each column independently).
        age_shift_years: applicants older by this many years (clipped to 18-70).
    """

    income_factor: float = 1.0
    credit_factor: float = 1.0
    category_shift: dict[str, dict[str, float]] = field(default_factory=dict)
    ext_source_missing_extra: float = 0.0
    age_shift_years: float = 0.0

    def __post_init__(self) -> None:
        for name in ("income_factor", "credit_factor"):
            if not getattr(self, name) > 0:
                raise DriftError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.ext_source_missing_extra <= 1.0:
            raise DriftError(f"ext_source_missing_extra must be in [0, 1], got {self.ext_source_missing_extra!r}")
        known = columns_by_name()
        for column, shares in self.category_shift.items():
            spec = known.get(column)
            if spec is None or spec.kind != "categorical":
                raise DriftError(f"category_shift: {column!r} is not a categorical column")
            unknown = sorted(set(shares) - set(spec.categories))
            if unknown:
                raise DriftError(
                    f"category_shift[{column}]: unknown values {unknown}; allowed: {list(spec.categories)}"
                )
            if any(v < 0 for v in shares.values()) or sum(shares.values()) <= 0:
                raise DriftError(f"category_shift[{column}]: shares must be >= 0 with a positive sum")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Drift:
        """Build from a JSON-like dict (unknown keys are an error)."""
        allowed = set(cls.__dataclass_fields__)
        extra = sorted(set(data) - allowed)
        if extra:
            raise DriftError(f"unknown drift options {extra}; allowed: {sorted(allowed)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def generate(n_rows: int, seed: int = 0, drift: Drift | None = None) -> pd.DataFrame:
    """Synthetic rows with the 122 columns of ``application_train.csv``.

    Args:
        n_rows: number of rows (>= 1).
        seed: random seed; the same seed and arguments give the same frame.
        drift: optional drift to apply (None: the training distribution).

    Returns:
        A DataFrame with ``shared.columns.csv_columns()`` in order and the dtypes
        pandas gives the real CSV (int64 where the real file has integers,
        float64 otherwise, text for categoricals, NaN for missing).
    """
    if n_rows < 1:
        raise ValueError(f"n_rows must be >= 1, got {n_rows}")
    rng = np.random.default_rng(seed)
    frame = Frame(n_rows, rng)
    _generate(frame, drift or Drift())
    data = {name: frame.values[name] for name in csv_columns()}
    df = pd.DataFrame(data)
    return df.astype(csv_dtypes())


def generate_applications(n_rows: int, seed: int = 0, drift: Drift | None = None) -> list[dict[str, Any]]:
    """API-ready applications: the 120 features and SK_ID_CURR, no TARGET.

    Missing values are None, integer columns are ``int``; every dict validates
    with ``shared.schema.LoanApplication``.
    """
    return to_records(generate(n_rows, seed=seed, drift=drift).drop(columns=[TARGET]), ints=True)


def _generate(frame: Frame, drift: Drift) -> None:
    cal = calibration()
    n, rng, put = frame.n, frame.rng, frame.put
    z = rng.standard_normal((n, len(cal.copula_columns))) @ cal.copula_cholesky.T
    latent = dict(zip(cal.copula_columns, z.T, strict=True))
    u = {name: frame.uniform_of(values) for name, values in latent.items()}

    birth = cal.marginals["DAYS_BIRTH"](u["DAYS_BIRTH"]) - round(drift.age_shift_years * _YEAR)
    birth = np.clip(birth, DAYS_BIRTH_MIN, DAYS_BIRTH_MAX)
    put("DAYS_BIRTH", birth)
    income_type = _income_types(frame, birth, drift)
    not_employed = np.isin(income_type, NOT_EMPLOYED_TYPES)
    put("NAME_INCOME_TYPE", income_type)
    employed_days = np.maximum(cal.worker_days_employed(u["DAYS_EMPLOYED"]), birth + round(16 * _YEAR))
    put("DAYS_EMPLOYED", np.where(not_employed, DAYS_EMPLOYED_UNEMPLOYED, employed_days))
    put("FLAG_EMP_PHONE", (~not_employed).astype(np.int64))
    _employment_fields(frame, not_employed, drift)

    _amounts(frame, u, drift)
    for name in ("DAYS_REGISTRATION", "DAYS_ID_PUBLISH", "DAYS_LAST_PHONE_CHANGE"):
        floor = birth if name == "DAYS_REGISTRATION" else birth + round(14 * _YEAR)
        put(name, np.maximum(cal.marginals[name](u[name]), floor))
    put("REGION_POPULATION_RELATIVE", cal.marginals["REGION_POPULATION_RELATIVE"](u["REGION_POPULATION_RELATIVE"]))
    rating = cal.marginals["REGION_RATING_CLIENT"](u["REGION_RATING_CLIENT"])
    put("REGION_RATING_CLIENT", rating)
    other = cal.marginals["REGION_RATING_CLIENT_W_CITY"](rng.random(n))
    put("REGION_RATING_CLIENT_W_CITY", np.where(rng.random(n) < 0.9, rating, other))

    children = cal.marginals["CNT_CHILDREN"](u["CNT_CHILDREN"])
    put("CNT_CHILDREN", children)
    family = frame.categorical("NAME_FAMILY_STATUS", drift.category_shift.get("NAME_FAMILY_STATUS"))
    couple = np.isin(family, ("Married", "Civil marriage"))
    put("CNT_FAM_MEMBERS", children + np.where(couple, 2.0, 1.0))

    car = frame.categorical("FLAG_OWN_CAR", drift.category_shift.get("FLAG_OWN_CAR"))
    car_age = cal.marginals["OWN_CAR_AGE"](u["OWN_CAR_AGE"])
    put("OWN_CAR_AGE", np.where(car == "Y", car_age, np.nan))

    for name in EXT_SOURCES:
        values = cal.marginals[name](u[name])
        rate = frame.missing_rate(name)
        missing = rng.random(n) < min(1.0, rate + drift.ext_source_missing_extra)
        put(name, np.where(missing, np.nan, values))

    frame.buildings(building_columns(), drift.category_shift)
    frame.social_circle()
    frame.bureau_requests()
    frame.remaining(drift.category_shift)

    liability = latent[TARGET] + frame.category_effect(cal.category_effects)
    put(TARGET, (liability > cal.liability_threshold).astype(np.int64))
    ids = np.sort(rng.choice(max(3 * n, 400_000), size=n, replace=False)) + 100_002
    put(CLIENT_ID, ids.astype(np.int64))


def _income_types(frame: Frame, birth: np.ndarray, drift: Drift) -> np.ndarray:
    """Pensioners by age (logistic), a few unemployed, the rest by frequency."""
    cal = calibration()
    n, rng = frame.n, frame.rng
    shift = drift.category_shift.get("NAME_INCOME_TYPE")
    freqs = dict(shift) if shift else dict(profile()["columns"]["NAME_INCOME_TYPE"]["frequencies"])
    total = sum(freqs.values())
    freqs = {k: v / total for k, v in freqs.items()}
    ages = -birth / _YEAR
    pension_share = freqs.get("Pensioner", 0.0)
    if shift is None:
        centre = cal.pension_age  # a fixed age: older applicants (age drift) retire more often
    else:
        centre = solve_pension_age(ages, pension_share) if pension_share > 0 else np.inf
    pensioner = rng.random(n) < pension_probability(ages, centre)
    unemployed_share = freqs.get("Unemployed", 0.0) / max(1e-12, 1 - pension_share)
    unemployed = ~pensioner & (rng.random(n) < unemployed_share)
    working = {k: v for k, v in freqs.items() if k not in NOT_EMPLOYED_TYPES}
    out = frame.choose(working, n) if working else np.full(n, "Working", dtype=object)
    out[pensioner] = "Pensioner"
    out[unemployed] = "Unemployed"
    return out


def _employment_fields(frame: Frame, not_employed: np.ndarray, drift: Drift) -> None:
    """Fields that follow employment: organisation, occupation, work-related flags."""
    n, rng, put = frame.n, frame.rng, frame.put
    columns = profile()["columns"]
    orgs = drift.category_shift.get("ORGANIZATION_TYPE") or columns["ORGANIZATION_TYPE"]["frequencies"]
    orgs = {k: v for k, v in orgs.items() if k != "XNA"}
    org = frame.choose(orgs, n)
    org[not_employed] = "XNA"
    put("ORGANIZATION_TYPE", org)
    occupations = drift.category_shift.get("OCCUPATION_TYPE") or columns["OCCUPATION_TYPE"]["frequencies"]
    occupation = frame.choose(occupations, n)
    base = calibration().not_employed_rate
    missing_worker = max(0.0, columns["OCCUPATION_TYPE"]["missing_rate"] - base) / (1 - base)
    occupation[not_employed | (rng.random(n) < missing_worker)] = np.nan
    put("OCCUPATION_TYPE", occupation)
    for name in ("FLAG_WORK_PHONE", "REG_REGION_NOT_WORK_REGION", "LIVE_REGION_NOT_WORK_REGION",
                 "REG_CITY_NOT_WORK_CITY", "LIVE_CITY_NOT_WORK_CITY"):
        rate = min(1.0, columns[name]["one_rate"] / max(1e-12, 1 - base))
        put(name, ((rng.random(n) < rate) & ~not_employed).astype(np.int64))


def _amounts(frame: Frame, u: dict[str, np.ndarray], drift: Drift) -> None:
    """Income, credit, goods price and annuity, kept consistent with each other."""
    cal = calibration()
    n, rng, put = frame.n, frame.rng, frame.put
    income = cal.marginals["AMT_INCOME_TOTAL"](u["AMT_INCOME_TOTAL"]) * drift.income_factor
    credit = cal.marginals["AMT_CREDIT"](u["AMT_CREDIT"])
    goods = np.minimum(cal.marginals["AMT_GOODS_PRICE"](u["AMT_GOODS_PRICE"]), credit)
    annuity = cal.marginals["AMT_ANNUITY"](u["AMT_ANNUITY"])
    annuity = np.clip(annuity, credit / 45.0, credit / 7.0)  # a loan of 7 to 45 annuities
    credit, goods, annuity = (x * drift.credit_factor for x in (credit, goods, annuity))
    specs = columns_by_name()

    def bounded(name: str, x: np.ndarray) -> np.ndarray:
        spec = specs[name]
        return np.round(np.clip(x, 1.0, spec.maximum) * 2) / 2  # amounts in half-units, as in the table

    put("AMT_INCOME_TOTAL", bounded("AMT_INCOME_TOTAL", income))
    put("AMT_CREDIT", bounded("AMT_CREDIT", credit))
    put("AMT_ANNUITY", bounded("AMT_ANNUITY", annuity))
    contract = frame.categorical("NAME_CONTRACT_TYPE", drift.category_shift.get("NAME_CONTRACT_TYPE"))
    revolving = contract == "Revolving loans"
    goods_missing_share = frame.missing_rate("AMT_GOODS_PRICE") / max(1e-12, float(revolving.mean()))
    missing = revolving & (rng.random(n) < goods_missing_share)
    put("AMT_GOODS_PRICE", np.where(missing, np.nan, bounded("AMT_GOODS_PRICE", goods)))

