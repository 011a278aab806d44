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
from shared.fairness import MIN_GROUP_SIZE, UNKNOWN, age_band, disparate_impact, group_metrics


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


def _refused(row: Mapping[str, Any]) -> bool:
    decision = row.get("decision")
    if decision is not None:
        return bool(decision == "refused")
    return bool(row["score"] >= row["threshold"])


def _fairness(rows: Sequence[Mapping[str, Any]], min_size: int) -> dict[str, Any]:
    approved = [not _refused(r) for r in rows]
    defaulted = [r.get("defaulted") for r in rows]
    genders = [UNKNOWN if r.get("CODE_GENDER") is None else str(r["CODE_GENDER"]) for r in rows]
    bands = [r.get("age_band") or UNKNOWN for r in rows]
    by_gender = group_metrics(genders, approved, defaulted)
    by_age = group_metrics(bands, approved, defaulted)
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

    def block(self, events: Sequence[Mapping[str, Any]], outcomes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The figures of one set of applications (a window, or one model version of it).

        Args:
            events: scored events as contexts (``score``, ``decision``, ``threshold``, ``CODE_GENDER``,
                ``DAYS_BIRTH`` or ``age_band``, ``event_id``).
            outcomes: matched outcome documents of the same applications (``defaulted`` and the copied fields).

        Returns:
            ``n_scored``, ``n_outcomes``, ``realised`` (None without outcome), ``estimated`` (None without
            event) and ``fairness``.
        """
        if self.reference is None:
            raise NotFittedError("call fit(metadata) before calculate")
        ref = self.reference
        y = np.fromiter((bool(o["defaulted"]) for o in outcomes), dtype=float, count=len(outcomes))
        p = np.fromiter((float(o["score"]) for o in outcomes), dtype=float, count=len(outcomes))
        refused = np.fromiter((_refused(o) for o in outcomes), dtype=bool, count=len(outcomes))
        realised = metrics.realised(y, p, refused, ref.cost_fn, ref.cost_fp)
        if realised is not None:
            realised.pop("n")
        scores = np.fromiter((float(e["score"]) for e in events), dtype=float, count=len(events))
        served = np.fromiter((_refused(e) for e in events), dtype=bool, count=len(events))
        estimated = cbpe.estimated(scores, served, ref.cost_fn, ref.cost_fp)
        known = {o["event_id"]: o["defaulted"] for o in outcomes}
        rows: list[Mapping[str, Any]] = [
            {"decision": e.get("decision"), "score": e.get("score"), "threshold": e.get("threshold"),
             "CODE_GENDER": e.get("CODE_GENDER"),
             "age_band": e.get("age_band") or age_band(e.get("DAYS_BIRTH")),
             "defaulted": known.pop(e["event_id"], None)} for e in events]
        # outcomes whose event is gone (retention) still count, with the groups they copied
        rows += [o for o in outcomes if o["event_id"] in known]
        return {"n_scored": len(events), "n_outcomes": len(outcomes), "realised": realised,
                "estimated": estimated, "fairness": _fairness(rows, self.min_group_size)}

    def calculate(self, events: Sequence[Mapping[str, Any]], outcomes: Sequence[Mapping[str, Any]], *,
                  n_unmatched: int = 0, window: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The report of a window: the whole window's figures, and the same per model version.

        Returns:
            ``window``, ``model_versions``, ``n_scored``, ``n_outcomes``, ``n_unmatched``, ``realised``,
            ``estimated``, ``reference``, ``fairness`` and ``per_model_version``.
        """
        whole = self.block(events, outcomes)
        versions = sorted({str(r.get("model_version")) for r in (*events, *outcomes)})
        per_version = {}
        for version in versions:
            if len(versions) == 1:  # the window's figures are this version's
                per_version[version] = whole
                continue
            per_version[version] = self.block([e for e in events if str(e.get("model_version")) == version],
                                              [o for o in outcomes if str(o.get("model_version")) == version])
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
