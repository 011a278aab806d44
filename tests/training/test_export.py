"""ONNX export: parity with LightGBM on at least 10,000 rows, and a failing check when it breaks."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from shared.scorer import Calibration
from training.exceptions import ParityError
from training.export import (
    PARITY_MIN_ROWS,
    check_parity,
    onnx_probabilities,
    onnx_session,
    parity_matrix,
    to_onnx,
)


def _data(n: int = 4_000, width: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, width)).astype(np.float32)
    X[rng.random(X.shape) < 0.2] = np.nan  # LightGBM's missing-value branches
    logit = np.nan_to_num(X[:, 0]) - 0.5 * np.nan_to_num(X[:, 1]) + 0.3 * np.isnan(X[:, 2])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


@pytest.fixture(scope="module")
def booster() -> lgb.Booster:
    X, y = _data()
    params = {"objective": "binary", "num_leaves": 31, "verbose": -1, "num_threads": 1, "seed": 0}
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=150)


def test_onnx_graph_has_the_contract_input_and_probabilities(booster: lgb.Booster) -> None:
    session = onnx_session(to_onnx(booster, 12))
    (inp,) = session.get_inputs()
    assert inp.name == "input" and inp.type == "tensor(float)" and inp.shape[1] == 12
    outputs = {o.name: o for o in session.get_outputs()}
    assert "probabilities" in outputs  # a tensor, not a ZipMap sequence
    assert outputs["probabilities"].type == "tensor(float)"


def test_parity_over_at_least_ten_thousand_rows(booster: lgb.Booster) -> None:
    X, _ = _data(seed=1)
    rows = parity_matrix(X, seed=0)
    assert len(rows) >= PARITY_MIN_ROWS and rows.dtype == np.float32
    assert np.isnan(rows).mean() > np.isnan(X).mean()  # the blanked half adds missing values
    parity = check_parity(onnx_session(to_onnx(booster, 12)), booster, rows, threshold=0.5)
    assert parity.rows == len(rows)
    assert parity.max_abs_diff <= 1e-4
    assert parity.decision_mismatches == parity.near_threshold


def test_parity_check_fails_on_another_model(booster: lgb.Booster) -> None:
    X, y = _data(seed=2)
    other = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1}, lgb.Dataset(X, 1 - y), 20)
    session = onnx_session(to_onnx(other, 12))
    with pytest.raises(ParityError, match=r"max \|p_onnx - p_lightgbm\|"):
        check_parity(session, booster, parity_matrix(X, seed=0), threshold=0.5)


def test_decision_mismatch_within_tolerance_of_the_threshold_is_allowed(booster: lgb.Booster) -> None:
    """float32 trees may put a probability a hair from the threshold on the other side: tolerated, counted."""
    X, _ = _data(seed=3)
    rows = parity_matrix(X, seed=0)
    session = onnx_session(to_onnx(booster, 12))
    p_onnx = onnx_probabilities(session, rows).astype(np.float64)
    p_lgb = booster.predict(rows)
    worst = int(np.argmax(np.abs(p_onnx - p_lgb)))
    assert p_onnx[worst] != p_lgb[worst]  # float32 vs float64: some difference exists
    threshold = max(p_onnx[worst], p_lgb[worst])  # one side refuses, the other approves
    parity = check_parity(session, booster, rows, threshold=threshold)
    assert parity.decision_mismatches >= 1
    assert parity.near_threshold == parity.decision_mismatches


def test_calibrated_decisions_are_compared_at_the_calibrated_threshold(booster: lgb.Booster) -> None:
    """With a calibration, raw scores are compared at the raw threshold, calibrated ones at the threshold."""
    X, _ = _data(seed=4)
    rows = parity_matrix(X, seed=0)
    session = onnx_session(to_onnx(booster, 12))
    calibration = Calibration(a=0.7, b=-2.0)
    p_onnx = calibration.apply(onnx_probabilities(session, rows).astype(np.float64))
    p_lgb = calibration.apply(booster.predict(rows))
    worst = int(np.argmax(np.abs(p_onnx - p_lgb)))
    threshold = max(p_onnx[worst], p_lgb[worst])  # calibrated: one side refuses, the other approves
    parity = check_parity(session, booster, rows, threshold=threshold, calibration=calibration)
    assert parity.calibrated_decision_mismatches >= 1
    assert parity.calibrated_near_threshold == parity.calibrated_decision_mismatches
    assert parity.decision_mismatches == parity.near_threshold
    plain = check_parity(session, booster, rows, threshold=calibration.inverse(threshold))
    assert plain.decision_mismatches == parity.decision_mismatches  # the same cut on raw scores


def test_float32_floor_keeps_every_float32_on_the_float64_side() -> None:
    from training.export import float32_floor

    a = np.float32(0.3)
    b = np.nextafter(a, np.float32(1))
    middle = (float(a) + float(b)) / 2  # where LightGBM puts a threshold between two adjacent values
    floor = np.float32(float32_floor(middle))
    assert floor == a and float32_floor(float(a)) == float(a)
    assert float32_floor(1e300) == float(np.finfo(np.float32).max) and float32_floor(-1e300) == -np.inf
    for x in (a, b, np.nextafter(a, np.float32(0))):
        assert (x <= floor) == (float(x) <= middle)


def test_a_threshold_between_adjacent_float32_values_keeps_lightgbms_branch() -> None:
    # two adjacent float32 values with opposite labels: LightGBM splits halfway between them, a
    # threshold the nearest float32 rounding puts on the upper value for one of the two pairs
    rows = []
    for a in (np.float32(0.3), np.float32(0.7)):
        b = np.nextafter(a, np.float32(1))
        rows += [(a, 0)] * 200 + [(b, 1)] * 200
    X = np.array([[x] for x, _ in rows], dtype=np.float32)
    y = np.array([label for _, label in rows])
    params = {"objective": "binary", "num_leaves": 4, "min_data_in_leaf": 5, "verbose": -1, "num_threads": 1}
    model = lgb.train(params, lgb.Dataset(X, y), num_boost_round=3)
    thresholds = [float(info["tree_structure"]["threshold"]) for info in model.dump_model()["tree_info"]
                  if "threshold" in info["tree_structure"]]
    assert any(float(np.float32(t)) > t for t in thresholds), "no threshold rounds up: the case is not built"
    p_onnx = onnx_probabilities(onnx_session(to_onnx(model, 1)), X)
    np.testing.assert_allclose(p_onnx, model.predict(X), atol=1e-6)
