"""The drift calculator: ``fit(reference)`` once, then ``calculate(current)`` per window."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from monitoring.drift import prepare
from monitoring.drift.checks import lattice_spacing, resolution_allowance, share_drifted
from monitoring.drift.plan import (
    MISSING_SHARE,
    PSI,
    SPECIAL_SHARE,
    SPECIAL_VALUES,
    WASSERSTEIN,
    FeaturePlan,
    choose_test,
)
from monitoring.drift.result import NO_REFERENCE, NOT_ENOUGH_DATA, DriftResult, FeatureCheck
from monitoring.drift.stattests import prepare_reference, run_test
from monitoring.exceptions import MonitoringError, NotFittedError, ReferenceDataError
from monitoring.settings import DriftSettings
from shared.columns import Column, columns_by_name, feature_columns
from shared.store.columns import ColumnSample

SCORE_EDGES = np.linspace(0.0, 1.0, 21)


def _default(name: str) -> Any:
    """The default of the setting ``DRIFT_<NAME>``: the calculator's defaults are the settings'."""
    return DriftSettings.model_fields[f"drift_{name}"].default


@dataclass
class DriftConfig:
    """Thresholds and limits of the calculator (see :class:`monitoring.settings.DriftSettings`)."""

    numeric_threshold: float = _default("numeric_threshold")
    categorical_threshold: float = _default("categorical_threshold")
    missing_threshold: float = _default("missing_threshold")
    missing_z: float = _default("missing_z")
    score_threshold: float = _default("score_threshold")
    share_threshold: float = _default("share_threshold")
    min_rows: int = _default("min_rows")
    min_feature_rows: int = _default("min_feature_rows")
    discrete_max_values: int = _default("discrete_max_values")
    rare_category_share: float = _default("rare_category_share")
    noise_factor: float = _default("noise_factor")
    features: list[str] | None = None
    feature_thresholds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Any) -> DriftConfig:
        """Build from :class:`MonitoringSettings`."""
        return cls(
            numeric_threshold=settings.drift_numeric_threshold,
            categorical_threshold=settings.drift_categorical_threshold,
            missing_threshold=settings.drift_missing_threshold, missing_z=settings.drift_missing_z,
            score_threshold=settings.drift_score_threshold, share_threshold=settings.drift_share_threshold,
            min_rows=settings.drift_min_rows, min_feature_rows=settings.drift_min_feature_rows,
            discrete_max_values=settings.drift_discrete_max_values,
            rare_category_share=settings.drift_rare_category_share, noise_factor=settings.drift_noise_factor,
            features=settings.drift_feature_list(), feature_thresholds=dict(settings.drift_feature_thresholds),
        )


class DriftCalculator:
    """Compares windows of production applications with the training reference.

    Example:
        >>> calc = DriftCalculator(DriftConfig()).fit(reference_rows)
        >>> result = calc.calculate(current_rows, window={"hours": 24})
    """

    def __init__(self, config: DriftConfig | None = None) -> None:
        self.config = config or DriftConfig()
        self.columns = self._select_columns(self.config.features)
        self.plans: list[FeaturePlan] = []
        self.score_reference: np.ndarray | None = None
        self.n_reference = 0
        self.model_version: str | None = None

    @staticmethod
    def _select_columns(names: Sequence[str] | None) -> list[Column]:
        if not names:
            return list(feature_columns())
        known = columns_by_name()
        unknown = [n for n in names if n not in known]
        if unknown:
            raise MonitoringError(f"unknown drift feature(s): {', '.join(unknown)}")
        return [known[n] for n in names]

    @property
    def fitted(self) -> bool:
        """True once :meth:`fit` has run."""
        return bool(self.plans)

    @property
    def _categorical(self) -> set[str]:
        return {c.name for c in self.columns if c.kind == "categorical"}

    @property
    def names(self) -> list[str]:
        """The analysed columns: the features, then ``score``."""
        return [c.name for c in self.columns] + [prepare.SCORE]

    def sample_fields(self) -> tuple[list[str], list[str]]:
        """(numeric, categorical) field names to read from the store for :meth:`frame_of`."""
        categorical = self._categorical
        return [n for n in self.names if n not in categorical], [n for n in self.names if n in categorical]

    def frame(self, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """The analysed columns of ``rows`` (features + ``score``), typed."""
        return prepare.to_frame(rows, self.names, self._categorical)  # type: ignore[arg-type]

    def frame_of(self, sample: ColumnSample) -> prepare.Columns:
        """The analysed columns of a columnar sample read with :meth:`sample_fields`, typed as :meth:`frame`."""
        return prepare.from_columns(sample, self.names)

    def fit(self, reference: Sequence[Mapping[str, Any]], model_version: str | None = None) -> DriftCalculator:
        """Learn the reference figures and choose each feature's test.

        Args:
            reference: raw applications with their ``score`` (the bundle's reference sample).
            model_version: recorded in the results.

        Returns:
            self, fitted.

        Raises:
            ReferenceDataError: the reference is empty.
        """
        if not reference:
            raise ReferenceDataError("the reference sample is empty")
        frame = self.frame(reference)
        self.n_reference = len(reference)  # rows (len(frame) counts the columns)
        self.model_version = model_version
        rng = np.random.default_rng(0)
        self.plans = [self._fit_feature(column, frame[column.name], rng) for column in self.columns]
        scores = frame[prepare.SCORE].dropna()
        self.score_reference = scores.to_numpy() if len(scores) else None
        return self

    def _fit_feature(self, column: Column, series: pd.Series, rng: np.random.Generator) -> FeaturePlan:
        cfg = self.config
        n = len(series)
        plan = FeaturePlan(name=column.name, kind=column.kind, test="none", threshold=0.0, discrete=False,
                           n_reference_rows=n, missing_share=float(series.isna().mean()))
        special = SPECIAL_VALUES.get(column.name)
        if special is not None:
            plan.special_value = special
            plan.special_share = float((series == special).sum()) / n
            series = series.mask(series == special)
        values = series.dropna()
        if values.empty:
            return plan
        plan.test, plan.discrete = choose_test(column, values, cfg.discrete_max_values)
        if column.kind != "categorical":
            plan.reference_mean = float(values.astype(float).mean())
        default = cfg.numeric_threshold if plan.test == WASSERSTEIN else cfg.categorical_threshold
        plan.threshold = cfg.feature_thresholds.get(column.name, default)
        if plan.discrete:
            frequencies = values.value_counts(normalize=True)
            plan.categories = [v for v, share in frequencies.items() if share >= cfg.rare_category_share]
            plan.reference = prepare.pool_categories(values, plan.categories)
            plan.histogram = prepare.shares(plan.reference, [*plan.categories, prepare.RARE])
        else:
            plan.reference = values
            plan.spacing = lattice_spacing(values.to_numpy(dtype=float))
            plan.reference_std = float(values.astype(float).std())
            if plan.test == WASSERSTEIN:
                plan.prepared = prepare_reference(values)
            plan.edges = prepare.bin_edges(values.to_numpy())
            plan.histogram = prepare.histogram(values.to_numpy(), plan.edges)
        plan.noise_scale = _noise_scale(plan, rng)
        return plan

    def threshold_for(self, plan: FeaturePlan, n_current: int) -> tuple[float, float]:
        """The threshold a distance is compared with on ``n_current`` values, and the noise floor in it.

        A distance between two samples is never 0, even from one population: it
        shrinks as 1/sqrt(n). The floor is the distance two halves of the
        reference show by chance, rescaled to this window's size, times
        ``noise_factor``; the threshold is the larger of it and the configured
        one. On big windows the floor is far below the threshold (the effect
        size decides); on small ones it keeps noise from being called drift.
        """
        if plan.reference is None or not n_current:
            return plan.threshold, 0.0
        floor = self.config.noise_factor * plan.noise_scale * math.sqrt(1 / len(plan.reference) + 1 / n_current)
        return max(plan.threshold, floor), floor

    def calculate(self, current: Sequence[Mapping[str, Any]] | pd.DataFrame | prepare.Columns,
                  window: Mapping[str, Any] | None = None) -> DriftResult:
        """Compare ``current`` (raw applications + ``score``, :meth:`frame` of them, or :meth:`frame_of` a
        columnar sample) with the reference.

        Never raises on the data's shape: a window smaller than ``min_rows``
        gives a ``not_enough_data`` result, a feature with too few values a
        ``not_enough_data`` check.

        Raises:
            NotFittedError: :meth:`fit` was not called.
        """
        if not self.fitted:
            raise NotFittedError("call fit(reference) before calculate(current)")
        started = time.perf_counter()
        cfg = self.config
        n_current = current.rows if isinstance(current, prepare.Columns) else len(current)
        result = DriftResult(status="ok", window=dict(window or {}), n_current=n_current,
                             n_reference=self.n_reference, n_features=len(self.plans),
                             share_threshold=cfg.share_threshold, model_version=self.model_version)
        if n_current < cfg.min_rows:
            result.status = NOT_ENOUGH_DATA
            result.message = f"not enough data: {n_current} scored applications in the window, {cfg.min_rows} needed"
            result.duration_s = time.perf_counter() - started
            return result
        frame = current if isinstance(current, pd.DataFrame | prepare.Columns) else self.frame(current)
        for plan in self.plans:
            result.checks.extend(self._check_feature(plan, frame[plan.name], result.distributions))
        result.score = self._check_score(frame[prepare.SCORE], result.distributions)
        drifted = {c.name for c in result.checks if c.drifted}
        result.drifted_features = [p.name for p in self.plans if p.name in drifted]
        result.share_drifted = len(result.drifted_features) / len(self.plans)
        result.message = (f"{len(result.drifted_features)} of {len(self.plans)} features drifted"
                          + (", score drifted" if result.score and result.score.drifted else ""))
        result.duration_s = time.perf_counter() - started
        return result

    def prepared(self, plan: FeaturePlan, series: pd.Series) -> tuple[pd.Series, pd.Series]:
        """The reference and current values one distribution test compares (special values out, rare pooled)."""
        if plan.special_value is not None:
            series = series.mask(series == plan.special_value)
        values = series.dropna()
        current = prepare.pool_categories(values, plan.categories) if plan.discrete else values
        if plan.reference is None:
            raise NotFittedError(f"{plan.name} has no reference values")
        return plan.reference, current

    def _share_check(self, plan: FeaturePlan, test: str, p_ref: float, p_cur: float, n_cur: int) -> FeatureCheck:
        cfg = self.config
        return FeatureCheck(
            name=plan.name, test=test, value=abs(p_cur - p_ref), threshold=cfg.missing_threshold,
            drifted=share_drifted(p_ref, plan.n_reference_rows, p_cur, n_cur, cfg.missing_threshold, cfg.missing_z),
            kind=plan.kind, n_reference=plan.n_reference_rows, n_current=n_cur,
            reference_value=p_ref, current_value=p_cur)

    def _check_feature(self, plan: FeaturePlan, series: pd.Series,
                       distributions: dict[str, dict[str, Any]]) -> list[FeatureCheck]:
        n = len(series)
        checks = [self._share_check(plan, MISSING_SHARE, plan.missing_share, float(series.isna().mean()), n)]
        if plan.special_value is not None:
            special = float((series == plan.special_value).sum()) / n
            checks.append(self._share_check(plan, SPECIAL_SHARE, plan.special_share, special, n))
        check = FeatureCheck(name=plan.name, test=plan.test, value=None, threshold=plan.threshold, drifted=False,
                             kind=plan.kind, n_reference=0 if plan.reference is None else len(plan.reference))
        checks.insert(0, check)
        if plan.reference is None:
            check.status = NO_REFERENCE
            return checks
        reference, current = self.prepared(plan, series)
        check.n_current = len(current)
        if len(current) < self.config.min_feature_rows:
            check.status = NOT_ENOUGH_DATA
            return checks
        check.threshold, check.noise_floor = self.threshold_for(plan, len(current))
        if plan.test == WASSERSTEIN:  # a window on a lattice the reference lacks (or the reverse) is not drift
            allowance = resolution_allowance(plan.spacing, lattice_spacing(current.to_numpy(dtype=float)),
                                             plan.reference_std)
            check.threshold += allowance
            check.noise_floor += allowance
        counts = current.value_counts() if plan.discrete else None  # for the test and the shares alike
        check.value, check.drifted = run_test(plan.test, reference, current, check.threshold, plan.discrete,
                                              prepared=plan.prepared, current_counts=counts)
        distributions[plan.name] = _distribution(plan, current, counts)
        if plan.kind != "categorical":
            check.reference_value = plan.reference_mean
            masked = series if plan.special_value is None else series.mask(series == plan.special_value)
            check.current_value = float(masked.mean())
        return checks

    def _check_score(self, scores: pd.Series, distributions: dict[str, dict[str, Any]]) -> FeatureCheck | None:
        if self.score_reference is None:
            return None
        values = scores.dropna()
        cfg = self.config
        check = FeatureCheck(name=prepare.SCORE, test=PSI, value=None, threshold=cfg.score_threshold, drifted=False,
                             kind="score", n_reference=len(self.score_reference), n_current=len(values),
                             reference_value=float(self.score_reference.mean()))
        if len(values) < cfg.min_feature_rows:
            check.status = NOT_ENOUGH_DATA
            return check
        check.value, check.drifted = run_test(PSI, pd.Series(self.score_reference), values, cfg.score_threshold, False)
        check.current_value = float(values.mean())
        distributions[prepare.SCORE] = {
            "type": "numeric", "edges": SCORE_EDGES.tolist(),
            "reference": prepare.histogram(self.score_reference, SCORE_EDGES),
            "current": prepare.histogram(values.to_numpy(), SCORE_EDGES),
        }
        return check


NOISE_SPLITS = 6
NOISE_SAMPLE = 6000  # the scale is per unit of sqrt(1/n1 + 1/n2): a subsample estimates it as well, 4x faster


def _noise_scale(plan: FeaturePlan, rng: np.random.Generator) -> float:
    """Mean distance between random halves of the reference, divided by sqrt(1/n1 + 1/n2)."""
    assert plan.reference is not None
    values = plan.reference.to_numpy()
    if len(values) > NOISE_SAMPLE:
        values = values[rng.choice(len(values), NOISE_SAMPLE, replace=False)]
    n = len(values)
    if n < 20:
        return 0.0
    half = n // 2
    distances = []
    for _ in range(NOISE_SPLITS):
        order = rng.permutation(n)
        a, b = pd.Series(values[order[:half]]), pd.Series(values[order[half:]])
        distances.append(run_test(plan.test, a, b, plan.threshold, plan.discrete)[0])
    return float(np.mean(distances)) / math.sqrt(1 / half + 1 / (n - half))


def _label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _distribution(plan: FeaturePlan, current: pd.Series, counts: pd.Series | None = None) -> dict[str, Any]:
    if plan.discrete:
        categories = [*plan.categories, prepare.RARE]
        return {"type": "categorical", "labels": [_label(c) for c in categories],
                "reference": plan.histogram, "current": prepare.shares(current, categories, counts)}
    assert plan.edges is not None
    return {"type": "numeric", "edges": plan.edges.tolist(), "reference": plan.histogram,
            "current": prepare.histogram(current.to_numpy(), plan.edges)}
