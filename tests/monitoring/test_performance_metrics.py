"""Every realised metric against scikit-learn on the same arrays; CBPE against a case computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import auc as trapezoid_area
from sklearn.metrics import brier_score_loss, confusion_matrix, roc_auc_score

from monitoring.performance import cbpe, metrics


@pytest.fixture(params=[0, 1, 2])
def arrays(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(request.param)
    n = 3_000
    p = rng.beta(0.6, 6.0, n)
    if request.param == 2:
        p = np.round(p, 2)  # many ties, and values on the bin edges
    y = (rng.random(n) < p).astype(int)
    refused = p >= 0.1
    return y, p, refused


def test_auc_matches_scikit_learn(arrays: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    y, p, _ = arrays
    assert metrics.roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert metrics.roc_auc(np.zeros(5), np.linspace(0, 1, 5)) is None


def test_cost_matches_the_confusion_matrix(arrays: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    y, _, refused = arrays
    tn, fp, fn, tp = confusion_matrix(y, refused.astype(int), labels=[0, 1]).ravel()
    assert metrics.cost_per_application(y, refused) == pytest.approx((10 * fn + fp) / len(y), abs=1e-15)
    assert metrics.cost_per_application(y, refused, cost_fn=5, cost_fp=2) == pytest.approx((5 * fn + 2 * fp) / len(y))
    assert metrics.approval_rate(refused) == pytest.approx((tn + fn) / len(y))
    assert metrics.default_rate_approved(y, refused) == pytest.approx(fn / (tn + fn))


def test_brier_matches_scikit_learn(arrays: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    y, p, _ = arrays
    assert metrics.brier(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-15)


def test_reliability_matches_calibration_curve(arrays: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    y, p, _ = arrays
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="uniform")
    curve = metrics.reliability(y, p)
    np.testing.assert_allclose([b["observed"] for b in curve], observed, atol=1e-15)
    np.testing.assert_allclose([b["mean_predicted"] for b in curve], predicted, atol=1e-15)
    assert sum(b["n"] for b in curve) == len(y)


def test_realised_block_is_none_without_outcomes() -> None:
    assert metrics.realised([], [], []) is None


def test_cbpe_by_hand() -> None:
    p, refused = [0.1, 0.4, 0.8], [False, False, True]
    # expected FN = 0.1 + 0.4 (approved), expected FP = 1 - 0.8 (refused): (10 * 0.5 + 0.2) / 3
    assert cbpe.expected_cost(p, refused) == pytest.approx(5.2 / 3, abs=1e-15)
    # pairs s_i > s_j: 0.4*0.9 + 0.8*0.9 + 0.8*0.6 = 1.56; each row with itself, half: (0.09+0.24+0.16)/2 = 0.245
    # over sum(p) * sum(1-p) = 1.3 * 1.7 = 2.21
    assert cbpe.expected_auc(p) == pytest.approx(1.805 / 2.21, abs=1e-15)
    assert cbpe.estimated(p, refused) == {"auc": pytest.approx(1.805 / 2.21), "cost_per_application":
                                          pytest.approx(5.2 / 3), "n": 3}


def test_expected_auc_is_the_area_under_the_expected_roc_curve(
        arrays: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    _, p, _ = arrays
    cuts = np.unique(p)[::-1]
    tpr = np.array([0.0, *(p[p >= t].sum() / p.sum() for t in cuts)])
    fpr = np.array([0.0, *((1 - p[p >= t]).sum() / (1 - p).sum() for t in cuts)])
    assert cbpe.expected_auc(p) == pytest.approx(trapezoid_area(fpr, tpr), abs=1e-12)


def test_cbpe_agrees_with_the_realised_figures_when_calibrated() -> None:
    rng = np.random.default_rng(7)
    p = rng.beta(0.6, 6.0, 200_000)
    y = rng.random(len(p)) < p
    refused = p >= 0.1
    assert cbpe.expected_cost(p, refused) == pytest.approx(metrics.cost_per_application(y, refused), rel=0.02)
    assert cbpe.expected_auc(p) == pytest.approx(metrics.roc_auc(y, p), abs=0.005)


def test_age_bands_of_many_values_are_the_shared_ones() -> None:
    from monitoring.performance.calculator import age_band_array
    from shared.fairness import age_band

    days = [None, 0, 100, -1, -365 * 25, -365 * 25 - 7, -9131, -9132, -365 * 70, -25_550, float("nan")]
    days += list(np.random.default_rng(0).integers(-30_000, 500, 2_000))
    assert age_band_array(days).tolist() == [age_band(d) for d in days]
