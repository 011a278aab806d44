"""The ONNX forms of the quantisation study agree with LightGBM: float32 (rounded down), float64, binned inputs."""

from __future__ import annotations

import numpy as np
import pytest

lgb = pytest.importorskip("lightgbm")
ort = pytest.importorskip("onnxruntime")

from benchmarks.trees import binning, flatten, floor32, to_onnx  # noqa: E402


@pytest.fixture(scope="module")
def model_and_rows() -> tuple[object, np.ndarray]:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(3000, 5)).astype(np.float32)
    X[:, 3] = np.round(X[:, 3])  # few distinct values: splits between them
    X[rng.random(3000) < 0.2, 0] = np.nan  # missing values: LightGBM learns a default direction
    X[:, 4] = np.where(rng.random(3000) < 0.5, 0.0, X[:, 4])
    y = ((np.nan_to_num(X[:, 0]) + X[:, 1] - X[:, 3] + rng.normal(scale=0.5, size=3000)) > 0).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 15, "verbose": -1, "min_data_in_leaf": 20,
                         "deterministic": True, "seed": 1}, lgb.Dataset(X, y), num_boost_round=30)
    rows = rng.normal(size=(2000, 5)).astype(np.float32)
    rows[rng.random(2000) < 0.3, 0] = np.nan
    rows[rng.random(2000) < 0.1, 2] = np.nan  # missing where training had none (missing_type None: read as 0)
    rows[:, 3] = np.round(rows[:, 3])
    return booster, rows


def _run(model: bytes, matrix: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": matrix})[0][:, 0]


def test_floor32_is_the_largest_float32_not_above() -> None:
    for value in (0.1, -0.1, 1e-30, 3.4e38, 12345.678901):
        f = floor32(value)
        assert float(f) <= value < float(np.nextafter(f, np.float32(np.inf)))


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_precision_forms_match_lightgbm(model_and_rows: tuple[object, np.ndarray], precision: str) -> None:
    booster, rows = model_and_rows
    expected = booster.predict(rows)  # type: ignore[attr-defined]
    forest = flatten(booster)
    got = _run(to_onnx(forest, precision), rows.astype(np.float64) if precision == "float64" else rows)
    assert np.max(np.abs(got - expected)) < 1e-5
    assert np.array_equal(got >= 0.5, expected >= 0.5)


def test_binned_inputs_are_exact(model_and_rows: tuple[object, np.ndarray]) -> None:
    booster, rows = model_and_rows
    forest = flatten(booster)
    bins = binning(forest)
    model = to_onnx(forest, "binned", thresholds=bins.node_bins, features=bins.node_columns,
                    n_inputs=len(bins.columns))
    binned = bins.transform(rows)
    assert binned.dtype == np.int32 and bins.max_bins() <= 256  # uint8 would hold them
    got = _run(model, binned.astype(np.float32))
    assert np.max(np.abs(got - booster.predict(rows))) < 1e-5  # type: ignore[attr-defined]
