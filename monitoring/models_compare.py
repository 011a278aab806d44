"""Champion against challenger on the same applications: what shadow scoring shows.

Each scored event that the challenger also scored carries
``shadow: {"model_version", "probability", "decision"}`` beside the champion's
``score`` and ``decision``. :func:`compare_shadow` turns a list of such events
into the figures of the dashboard's Models page: how often the two agree on
the decision, where they disagree, how far their scores are apart and both
score distributions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

BINS = 20


def _pairs(events: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, float, str, float, str]]:
    out = []
    for event in events:
        shadow = event.get("shadow") or {}
        if event.get("score") is None or shadow.get("probability") is None:
            continue
        out.append((str(event.get("model_version")), str(shadow.get("model_version")), float(event["score"]),
                    str(event.get("decision")), float(shadow["probability"]), str(shadow.get("decision"))))
    return out


def compare_shadow(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Agreement figures of the champion and its shadow on the same applications.

    Returns:
        ``{"n", "champion_versions", "challenger_versions", "decision_agreement", "disagreements":
        {"champion approves, challenger refuses": n, "champion refuses, challenger approves": n},
        "score_mean_abs_diff", "score_correlation", "approval_rate": {"champion", "challenger"},
        "histogram": {"edges", "champion", "challenger"}}``; figures are None with no pair.
    """
    pairs = _pairs(events)
    edges = np.linspace(0.0, 1.0, BINS + 1)
    if not pairs:
        return {"n": 0, "champion_versions": [], "challenger_versions": [], "decision_agreement": None,
                "disagreements": {}, "score_mean_abs_diff": None, "score_correlation": None,
                "approval_rate": {"champion": None, "challenger": None},
                "histogram": {"edges": edges.tolist(), "champion": [0] * BINS, "challenger": [0] * BINS}}
    champion_scores = np.asarray([p[2] for p in pairs])
    challenger_scores = np.asarray([p[4] for p in pairs])
    champion_approved = np.asarray([p[3] == "approved" for p in pairs])
    challenger_approved = np.asarray([p[5] == "approved" for p in pairs])
    disagreements = Counter()
    for a, b in zip(champion_approved, challenger_approved, strict=True):
        if a and not b:
            disagreements["champion approves, challenger refuses"] += 1
        elif b and not a:
            disagreements["champion refuses, challenger approves"] += 1
    correlation = None
    if len(pairs) > 1 and champion_scores.std() > 0 and challenger_scores.std() > 0:
        correlation = float(np.corrcoef(champion_scores, challenger_scores)[0, 1])
    return {
        "n": len(pairs),
        "champion_versions": sorted({p[0] for p in pairs}),
        "challenger_versions": sorted({p[1] for p in pairs}),
        "decision_agreement": float((champion_approved == challenger_approved).mean()),
        "disagreements": dict(disagreements),
        "score_mean_abs_diff": float(np.abs(champion_scores - challenger_scores).mean()),
        "score_correlation": correlation,
        "approval_rate": {"champion": float(champion_approved.mean()),
                          "challenger": float(challenger_approved.mean())},
        "histogram": {"edges": edges.tolist(),
                      "champion": np.histogram(np.clip(champion_scores, 0, 1), edges)[0].tolist(),
                      "challenger": np.histogram(np.clip(challenger_scores, 0, 1), edges)[0].tolist()},
    }
