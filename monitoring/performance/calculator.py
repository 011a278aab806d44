"""The performance calculator: ``fit(bundle metadata)`` once, then ``calculate(events, outcomes)`` per window.

Realised figures come from the matched outcomes (each carries the score,
decision and groups of its event, so they hold after the events' retention);
estimated figures (CBPE) from every scored application of the window; fairness
from the window's applications, with the outcome where one is known (approval
rates over all of them, TPR and FPR over those with an outcome).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from monitoring.exceptions import NotFittedError
from monitoring.performance import cbpe, metrics
from shared.fairness import AGE_BAND_NAMES, AGE_BANDS, MIN_GROUP_SIZE, UNKNOWN, disparate_impact, group_metrics


@dataclass(frozen=True)
class Reference:
    """The bundle's holdout figures, and the costs its threshold was chosen with."""

    model_version: str | None
    cost_per_application: float | None
    auc: float | None
    cost_fn: float = metrics.COST_FN
    cost_fp: float = metrics.COST_FP

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> Reference:
        """Read ``metrics.holdout`` (the training's out-of-fold figures when the bundle has no holdout)."""
        figures = metadata.get("metrics") or {}
        holdout = figures.get("holdout") or figures
        threshold = metadata.get("threshold") or {}
        return cls(
            model_version=metadata.get("version"),
            cost_per_application=holdout.get("cost_per_application"),
            auc=holdout.get("auc"),
            cost_fn=float(threshold.get("cost_fn", metrics.COST_FN)),
            cost_fp=float(threshold.get("cost_fp", metrics.COST_FP)),
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``reference`` object of the report."""
        return {"cost_per_application": self.cost_per_application, "auc": self.auc,
                "model_version": self.model_version}


@dataclass
class Columns:
    """Applications as arrays: what every figure is computed from (one pass over the dicts, then numpy)."""

    event_id: np.ndarray
    score: np.ndarray
    refused: np.ndarray
    version: np.ndarray
    gender: np.ndarray
    band: np.ndarray
    defaulted: np.ndarray  # 1 default, 0 none, -1 unknown

    @classmethod
    def of(cls, rows: Sequence[Mapping[str, Any]], defaulted: Sequence[Any] | None = None) -> Columns:
        """From event contexts (``DAYS_BIRTH``) or outcome documents (``age_band``, ``defaulted``)."""
        n = len(rows)
        score = np.fromiter((r["score"] for r in rows), dtype=float, count=n)
        threshold = np.fromiter((np.nan if r.get("threshold") is None else r["threshold"] for r in rows),
                                dtype=float, count=n)
        decision = np.array([r.get("decision") for r in rows], dtype=object)
        # the served decision; from the threshold only for a row stored without one
        refused = np.where(decision == None, score >= threshold, decision == "refused")  # noqa: E711
        if n and "age_band" in rows[0]:
            band = np.array([r.get("age_band") or UNKNOWN for r in rows], dtype=object)
        else:
            band = age_band_array([r.get("DAYS_BIRTH") for r in rows])
        values = [r.get("defaulted") for r in rows] if defaulted is None else list(defaulted)
        return cls(
            event_id=np.array([r["event_id"] for r in rows], dtype=object), score=score,
            refused=refused.astype(bool),
            version=np.array([str(r.get("model_version")) for r in rows], dtype=object),
            gender=np.array([UNKNOWN if r.get("CODE_GENDER") is None else str(r["CODE_GENDER"]) for r in rows],
                            dtype=object),
            band=band,
            defaulted=np.array([-1 if v is None else int(bool(v)) for v in values], dtype=np.int8),
        )

    def take(self, mask: np.ndarray) -> Columns:
        """The rows where ``mask`` is true."""
        return Columns(**{name: getattr(self, name)[mask] for name in self.__dataclass_fields__})

    def join(self, other: Columns) -> Columns:
        """These rows, then ``other``'s."""
        return Columns(**{name: np.concatenate([getattr(self, name), getattr(other, name)])
                          for name in self.__dataclass_fields__})


def age_band_array(days_birth: Sequence[Any]) -> np.ndarray:
    """:func:`shared.fairness.age_band` of many values at once."""
    days = np.array([np.nan if d is None else float(d) for d in days_birth], dtype=float)
    bands = np.full(len(days), UNKNOWN, dtype=object)
    known = ~np.isnan(days)
    ages = np.floor(-days[known] / 365.25)
    uppers = np.array([high for _, _, high in AGE_BANDS[:-1]], dtype=float)
    names = np.array(AGE_BAND_NAMES, dtype=object)
    bands[known] = names[np.searchsorted(uppers, ages, side="right")]
    return bands


def _fairness(rows: Columns, min_size: int) -> dict[str, Any]:
    approved = ~rows.refused
    defaulted: list[bool | None] = [None if d < 0 else bool(d) for d in rows.defaulted.tolist()]
    by_gender = group_metrics(rows.gender, approved, defaulted)
    by_age = group_metrics(rows.band, approved, defaulted)
    return {"CODE_GENDER": by_gender, "age_band": by_age,
            "disparate_impact": {"CODE_GENDER": disparate_impact(by_gender, min_size),
                                 "age_band": disparate_impact(by_age, min_size)}}


class PerformanceCalculator:
    """Realised, estimated and fairness figures of windows of scored applications.

    Args:
        min_group_size: groups smaller than this are reported but left out of the disparate-impact ratio.
    """

    def __init__(self, min_group_size: int = MIN_GROUP_SIZE) -> None:
        self.min_group_size = min_group_size
        self.reference: Reference | None = None

    def fit(self, metadata: Mapping[str, Any]) -> PerformanceCalculator:
        """Take the reference figures and costs from a bundle's ``metadata.json`` content."""
        self.reference = Reference.from_metadata(metadata)
        return self

    def block(self, events: Columns, outcomes: Columns) -> dict[str, Any]:
        """The figures of one set of applications (a window, or one model version of it).

        Args:
            events: the scored applications (their outcome in ``defaulted`` where known).
            outcomes: the matched outcomes of applications of the same set, also those whose event is gone.

        Returns:
            ``n_scored``, ``n_outcomes``, ``realised`` (None without outcome), ``estimated`` (None without
            event) and ``fairness``.
        """
        if self.reference is None:
            raise NotFittedError("call fit(metadata) before calculate")
        ref = self.reference
        realised = metrics.realised(outcomes.defaulted.astype(float), outcomes.score, outcomes.refused,
                                    ref.cost_fn, ref.cost_fp)
        if realised is not None:
            realised.pop("n")
        estimated = cbpe.estimated(events.score, events.refused, ref.cost_fn, ref.cost_fp)
        # outcomes whose event is gone (retention) still count for fairness, with the groups they copied
        present = set(events.event_id.tolist())
        gone = outcomes.take(np.fromiter((e not in present for e in outcomes.event_id.tolist()), dtype=bool,
                                         count=len(outcomes.event_id)))
        return {"n_scored": len(events.score), "n_outcomes": len(outcomes.score), "realised": realised,
                "estimated": estimated, "fairness": _fairness(events.join(gone), self.min_group_size)}

    def calculate(self, events: Sequence[Mapping[str, Any]], outcomes: Sequence[Mapping[str, Any]], *,
                  n_unmatched: int = 0, window: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The report of a window: the whole window's figures, and the same per model version.

        Returns:
            ``window``, ``model_versions``, ``n_scored``, ``n_outcomes``, ``n_unmatched``, ``realised``,
            ``estimated``, ``reference``, ``fairness`` and ``per_model_version``.
        """
        known = {o["event_id"]: o["defaulted"] for o in outcomes}
        event_cols = Columns.of(events, [known.get(e["event_id"]) for e in events])
        outcome_cols = Columns.of(outcomes)
        whole = self.block(event_cols, outcome_cols)
        versions = sorted(set(event_cols.version.tolist()) | set(outcome_cols.version.tolist()))
        per_version = {}
        for version in versions:
            if len(versions) == 1:  # the window's figures are this version's
                per_version[version] = whole
                continue
            per_version[version] = self.block(event_cols.take(event_cols.version == version),
                                              outcome_cols.take(outcome_cols.version == version))
        assert self.reference is not None
        return {
            "window": dict(window or {}),
            "model_versions": versions,
            "n_scored": whole["n_scored"],
            "n_outcomes": whole["n_outcomes"],
            "n_unmatched": n_unmatched,
            "realised": whole["realised"],
            "estimated": whole["estimated"],
            "reference": self.reference.to_dict(),
            "fairness": whole["fairness"],
            "per_model_version": per_version,
        }
