"""The promotion gate: a candidate bundle against the champion, on one fixed evaluation set.

Both bundles score the same labelled applications with the serving scorer
(ONNX, calibration, each bundle's own threshold). The candidate passes when

- its AUC is not lower than the champion's by more than ``auc_drop`` (0.005),
- its cost per application (``cost_fn`` x FN + ``cost_fp`` x FP over n, at its
  threshold) is not higher by more than ``cost_increase`` (1 %, relative),
- each disparate-impact ratio (by ``CODE_GENDER`` and by age band, from
  :mod:`shared.fairness`) is not lower by more than ``di_drop`` (0.02).

The evaluation set is fixed once for a registry, so every gate compares
figures on the same rows: synthetic applications from :data:`EVALUATION_SEED`
(never a training seed of the default build), or a named CSV in the Kaggle
format (``TARGET`` included).
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from shared.columns import CLIENT_ID, feature_names
from shared.fairness import fairness_report
from shared.scorer import Scorer
from training.threshold import Costs
from training.threshold import evaluate as threshold_metrics

EVALUATION_SEED = 20_261_207
EVALUATION_ROWS = 20_000
EVALUATION_FILE = "evaluation.jsonl.gz"


@dataclass(frozen=True)
class GateLimits:
    """How much worse than the champion a candidate may be."""

    auc_drop: float = 0.005
    cost_increase: float = 0.01
    di_drop: float = 0.02


@dataclass
class Check:
    """One line of the comparison."""

    name: str
    champion: float | None
    candidate: float | None
    limit: str
    passed: bool


@dataclass
class GateResult:
    """The gate's verdict and its figures."""

    passed: bool
    checks: list[Check] = field(default_factory=list)
    champion: dict[str, Any] = field(default_factory=dict)
    candidate: dict[str, Any] = field(default_factory=dict)
    rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what the model events store)."""
        return {"passed": self.passed, "rows": self.rows, "checks": [asdict(c) for c in self.checks],
                "champion": self.champion, "candidate": self.candidate}

    def table(self) -> str:
        """The comparison as aligned text, for the terminal."""
        lines = [f"{'check':<28} {'champion':>10} {'candidate':>10}  {'limit':<28} ok"]
        for c in self.checks:
            def fmt(value: float | None) -> str:
                return "n/a" if value is None else f"{value:.4f}"
            lines.append(f"{c.name:<28} {fmt(c.champion):>10} {fmt(c.candidate):>10}  {c.limit:<28} "
                         f"{'yes' if c.passed else 'NO'}")
        return "\n".join(lines)


def synthetic_evaluation_set(rows: int | None = None, seed: int = EVALUATION_SEED) -> list[dict[str, Any]]:
    """Labelled synthetic applications (``EVALUATION_ROWS`` by default): the raw fields plus ``TARGET``."""
    from training.synthetic import generate

    frame = generate(rows or EVALUATION_ROWS, seed=seed)
    return _records(frame)


def csv_evaluation_set(path: Path) -> list[dict[str, Any]]:
    """Labelled applications from a Kaggle-format CSV (``TARGET`` required)."""
    from training.data import load_csv

    return _records(load_csv(path))


def _records(frame: Any) -> list[dict[str, Any]]:
    from training.data import to_records

    columns = [CLIENT_ID, *feature_names()]
    records = to_records(frame[columns])
    for record, target in zip(records, frame["TARGET"].to_numpy(), strict=True):
        record["TARGET"] = int(target)
    return records


def save_evaluation_set(records: Sequence[dict[str, Any]], path: Path) -> Path:
    """Write the set as gzipped JSON lines (client ids dropped: they are not needed to score)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb", compresslevel=6) as handle:
        for record in records:
            handle.write(orjson.dumps({k: v for k, v in record.items() if k != CLIENT_ID}) + b"\n")
    return path


def load_evaluation_set(path: Path) -> list[dict[str, Any]]:
    """Read a set written by :func:`save_evaluation_set`."""
    with gzip.open(path, "rb") as handle:
        return [orjson.loads(line) for line in handle if line.strip()]


def evaluate(bundle_dir: Path, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The figures the gate compares, for one bundle on the labelled records."""
    scorer = Scorer.load(bundle_dir)
    labels = np.asarray([int(r["TARGET"]) for r in records], dtype=np.int64)
    applications = [{k: v for k, v in r.items() if k != "TARGET"} for r in records]
    results = scorer.score_batch(applications)
    probability = np.asarray([r.probability for r in results])
    threshold = scorer.metadata["threshold"]
    costs = Costs(fn=float(threshold.get("cost_fn", 10.0)), fp=float(threshold.get("cost_fp", 1.0)))
    # the metrics the build reports at its threshold, with the served decision rule (refused when p >= threshold)
    metrics = threshold_metrics(labels, probability, scorer.threshold, costs)
    approved = probability < scorer.threshold
    fairness = fairness_report(
        [a.get("CODE_GENDER") for a in applications], [a.get("DAYS_BIRTH") for a in applications],
        approved.tolist(), labels.astype(bool).tolist(),
    )
    return {
        "bundle_version": scorer.model_version,
        "auc": metrics["auc"],
        "cost_per_application": metrics["cost_per_application"],
        "approval_rate": 1.0 - metrics["refusal_rate"],
        "disparate_impact": fairness["disparate_impact"],
        "rows": len(labels),
    }


def compare(champion: dict[str, Any], candidate: dict[str, Any], limits: GateLimits | None = None) -> GateResult:
    """Apply the gate to two evaluations (from :func:`evaluate`)."""
    limits = limits or GateLimits()
    checks = [
        Check("AUC", champion["auc"], candidate["auc"], f"not lower by > {limits.auc_drop}",
              candidate["auc"] >= champion["auc"] - limits.auc_drop),
        Check("cost per application", champion["cost_per_application"], candidate["cost_per_application"],
              f"not higher by > {limits.cost_increase:.0%}",
              candidate["cost_per_application"] <= champion["cost_per_application"] * (1 + limits.cost_increase)),
    ]
    for group in ("CODE_GENDER", "age_band"):
        old, new = champion["disparate_impact"].get(group), candidate["disparate_impact"].get(group)
        passed = old is None or (new is not None and new >= old - limits.di_drop)
        checks.append(Check(f"disparate impact {group}", old, new, f"not lower by > {limits.di_drop}", passed))
    return GateResult(all(c.passed for c in checks), checks, champion, candidate, int(candidate["rows"]))
