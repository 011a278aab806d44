"""Column-group generators of the synthetic table (the structural parts).

A :class:`Frame` collects the columns of one generated table; its methods fill
the groups whose values hang together in the real data: building statistics
(_AVG/_MODE/_MEDI missing together, one underlying building), the social
circle counts (DEF <= OBS), the credit-bureau request counts (missing
together), and every other column from its profiled distribution.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shared.columns import feature_columns, profile
from training.calibration import calibration
from training.marginals import normal_cdf

_BUILDING_SUFFIXES = ("_AVG", "_MODE", "_MEDI")
# Building statistics driven by the building's size (loading on a shared factor).
_SIZE_LOADING = {
    "APARTMENTS": 0.9, "LIVINGAPARTMENTS": 0.9, "LIVINGAREA": 0.9, "TOTALAREA": 0.9,
    "ELEVATORS": 0.6, "ENTRANCES": 0.6, "FLOORSMAX": 0.5, "FLOORSMIN": 0.5,
    "BASEMENTAREA": 0.5, "COMMONAREA": 0.5, "LANDAREA": 0.4, "NONLIVINGAREA": 0.4,
    "NONLIVINGAPARTMENTS": 0.4, "YEARS_BUILD": 0.3, "YEARS_BEGINEXPLUATATION": 0.2,
}
_SOCIAL = ("OBS_30_CNT_SOCIAL_CIRCLE", "DEF_30_CNT_SOCIAL_CIRCLE", "OBS_60_CNT_SOCIAL_CIRCLE",
           "DEF_60_CNT_SOCIAL_CIRCLE")
_BUREAU = tuple(f"AMT_REQ_CREDIT_BUREAU_{p}" for p in ("HOUR", "DAY", "WEEK", "MON", "QRT", "YEAR"))


def building_columns() -> tuple[str, ...]:
    """The building statistics (numeric and categorical), in CSV order."""
    names = [c.name for c in feature_columns()]
    start = names.index("APARTMENTS_AVG")
    end = names.index("EMERGENCYSTATE_MODE")
    return tuple(names[start : end + 1])


def _family(name: str) -> str:
    for suffix in _BUILDING_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


class Frame:
    """The columns of one generated table, filled group by group."""

    def __init__(self, n: int, rng: np.random.Generator) -> None:
        self.n = n
        self.rng = rng
        self.values: dict[str, np.ndarray] = {}
        self._columns = profile()["columns"]

    def put(self, name: str, values: np.ndarray) -> None:
        """Store one column."""
        self.values[name] = values

    @staticmethod
    def uniform_of(z: np.ndarray) -> np.ndarray:
        """Uniform draws from standard-normal ones (the copula's margins)."""
        return normal_cdf(z)

    def missing_rate(self, name: str) -> float:
        """The profiled missing rate of a column."""
        return float(self._columns[name]["missing_rate"])

    def choose(self, frequencies: dict[str, float], n: int) -> np.ndarray:
        """``n`` values drawn with the given (unnormalised) frequencies, as an object array."""
        values = list(frequencies)
        weights = np.array([frequencies[v] for v in values], dtype=float)
        cumulative = np.cumsum(weights / weights.sum())
        index = np.minimum(np.searchsorted(cumulative, self.rng.random(n), side="right"), len(values) - 1)
        return np.array(values, dtype=object)[index]

    def categorical(
        self, name: str, shift: dict[str, float] | None = None, present: np.ndarray | None = None
    ) -> np.ndarray:
        """Draw a categorical column (its frequencies or a shift's), NaN where missing.

        Args:
            name: the column.
            shift: new frequencies (drift), else the profile's.
            present: rows that have a value; default: missing at the profiled rate.
        """
        values = self.choose(shift or self._columns[name]["frequencies"], self.n)
        if present is None:
            present = self.rng.random(self.n) >= self.missing_rate(name)
        values[~present] = np.nan
        self.put(name, values)
        return values

    def _numeric(self, name: str, u: np.ndarray, present: np.ndarray) -> None:
        values = calibration().marginals[name](u)
        self.put(name, np.where(present, values, np.nan))

    def _correlated_uniforms(self, loading: float, base: np.ndarray) -> np.ndarray:
        noise = self.rng.standard_normal(self.n)
        return normal_cdf(loading * base + np.sqrt(1 - loading**2) * noise)

    def buildings(self, names: tuple[str, ...], shifts: dict[str, dict[str, float]]) -> None:
        """Building statistics: one missing pattern (nested by rate) and one building per row."""
        availability = self.rng.random(self.n)  # a column is present when this is above its missing rate
        size = self.rng.standard_normal(self.n)
        families: dict[str, np.ndarray] = {}
        for name in names:
            present = availability >= self.missing_rate(name)
            if self._columns[name]["kind"] == "categorical":
                self.categorical(name, shifts.get(name), present=present)
                continue
            family = _family(name)
            if family not in families:
                loading = _SIZE_LOADING.get(family, 0.3)
                families[family] = loading * size + np.sqrt(1 - loading**2) * self.rng.standard_normal(self.n)
            self._numeric(name, self._correlated_uniforms(0.97, families[family]), present)

    def social_circle(self) -> None:
        """Observed and defaulted acquaintances: DEF <= OBS, 60-day counts close to 30-day ones."""
        present = self.rng.random(self.n) >= self.missing_rate("OBS_30_CNT_SOCIAL_CIRCLE")
        cal = calibration()
        base = self.rng.standard_normal(self.n)
        obs30 = cal.marginals[_SOCIAL[0]](self._correlated_uniforms(0.99, base))
        obs60 = cal.marginals[_SOCIAL[2]](self._correlated_uniforms(0.99, base))
        defaults = 0.5 * base + np.sqrt(0.75) * self.rng.standard_normal(self.n)
        def30 = np.minimum(cal.marginals[_SOCIAL[1]](normal_cdf(defaults)), obs30)
        def60 = np.minimum(cal.marginals[_SOCIAL[3]](self._correlated_uniforms(0.98, defaults)), def30)
        for name, values in zip(_SOCIAL, (obs30, def30, obs60, def60), strict=True):
            self.put(name, np.where(present, values, np.nan))

    def bureau_requests(self) -> None:
        """Credit-bureau enquiry counts: missing together, mildly correlated."""
        present = self.rng.random(self.n) >= self.missing_rate(_BUREAU[0])
        base = self.rng.standard_normal(self.n)
        for name in _BUREAU:
            self._numeric(name, self._correlated_uniforms(0.5, base), present)

    def remaining(self, shifts: dict[str, dict[str, float]]) -> None:
        """Every column not generated yet, from its own profiled distribution."""
        for column in feature_columns():
            name = column.name
            if name in self.values:
                continue
            figures = self._columns[name]
            if column.kind == "categorical":
                self.categorical(name, shifts.get(name))
            elif column.kind == "flag":
                self.put(name, (self.rng.random(self.n) < figures["one_rate"]).astype(np.int64))
            else:
                present = self.rng.random(self.n) >= figures["missing_rate"]
                self._numeric(name, self.rng.random(self.n), present)

    def category_effect(self, effects: dict[str, dict[str, float]]) -> np.ndarray:
        """Sum of the categorical columns' effects on the target's liability (0 when missing)."""
        total = np.zeros(self.n)
        for name, by_value in effects.items():
            total += pd.Series(self.values[name]).map(by_value).fillna(0.0).to_numpy(dtype=np.float64)
        return total
