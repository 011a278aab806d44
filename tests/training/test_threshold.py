"""The business-cost threshold: exact minimum over every cut, metrics at it."""

from __future__ import annotations

import numpy as np
import pytest

from training.threshold import Costs, best_threshold, evaluate


def _cost(y: np.ndarray, p: np.ndarray, threshold: float, costs: Costs) -> float:
    refused = p >= threshold
    return costs.fn * np.sum(~refused & (y == 1)) + costs.fp * np.sum(refused & (y == 0))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("costs", [Costs(), Costs(fn=5, fp=1), Costs(fn=1, fp=1)])
def test_threshold_reaches_the_brute_force_minimum(seed: int, costs: Costs) -> None:
    rng = np.random.default_rng(seed)
    y = (rng.random(600) < 0.1).astype(int)
    p = np.round(np.clip(0.1 + 0.3 * y + rng.normal(0, 0.2, 600), 0, 1), 2)  # rounded: many ties
    candidates = np.concatenate([np.unique(p), [1.1]])
    brute = min(_cost(y, p, t, costs) for t in candidates)
    threshold = best_threshold(y, p, costs)
    assert _cost(y, p, threshold, costs) == brute
    assert threshold not in set(p.tolist()) or threshold == p.min()  # half-way between scores


def test_extreme_costs_refuse_everyone_or_no_one() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.1).astype(int)
    p = rng.random(500)
    assert evaluate(y, p, best_threshold(y, p, Costs(fn=1000, fp=1)), Costs())["recall"] == 1.0
    assert evaluate(y, p, best_threshold(y, p, Costs(fn=1, fp=1000)), Costs())["refusal_rate"] == 0.0


def test_metrics_at_threshold() -> None:
    y = np.array([1, 1, 0, 0, 0, 1])
    p = np.array([0.9, 0.6, 0.7, 0.2, 0.1, 0.3])
    m = evaluate(y, p, 0.5, Costs(fn=10, fp=1))
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 1, 1, 2)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["cost_per_application"] == pytest.approx((10 * 1 + 1 * 1) / 6)
    assert m["cost_accept_all"] == pytest.approx(10 * 3 / 6)
    assert m["cost_refuse_all"] == pytest.approx(3 / 6)
    assert m["auc"] == pytest.approx(7 / 9)
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))
