"""A stand-in model bundle and random valid applications, for the gateway and worker tests.

Used until the ``tiny_bundle`` fixture (tests/conftest.py, built by training)
and ``tests/utils/data.synthetic_applications`` exist; the fixtures prefer
those when they are there.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np

from shared.columns import CLIENT_ID, DAYS_EMPLOYED_UNEMPLOYED, feature_columns, profile
from shared.encoding import fit_encoding


def random_applications(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` valid applications drawn from the profile's frequencies and quantiles."""
    rng = random.Random(seed)
    figures = profile()["columns"]
    rows = []
    for i in range(n):
        row: dict[str, Any] = {CLIENT_ID: 100_000 + i}
        for column in feature_columns():
            f = figures[column.name]
            if not column.required and rng.random() < f["missing_rate"]:
                row[column.name] = None
            elif column.kind == "categorical":
                row[column.name] = rng.choice(list(f["frequencies"]))
            elif column.kind == "flag":
                row[column.name] = rng.choice([0, 1])
            else:
                quantiles = list(f["quantiles"].values())
                value = rng.uniform(quantiles[1], quantiles[-2])
                if column.kind == "integer":
                    value = float(round(value))
                if column.minimum is not None:
                    value = max(value, column.minimum + (1 if column.exclusive_minimum else 0))
                if column.maximum is not None:
                    value = min(value, column.maximum)
                row[column.name] = value
        if row["DAYS_EMPLOYED"] > 0:
            row["DAYS_EMPLOYED"] = DAYS_EMPLOYED_UNEMPLOYED if rng.random() < 0.2 else -float(rng.randint(0, 15000))
        rows.append(row)
    return rows


def build_standin_bundle(directory: Path, n_rows: int = 300, seed: int = 0) -> Path:
    """A small logistic model written as ONNX, with the metadata the scorer reads.

    Missing values count as 0; the probability rises with the credit/income
    ratio and falls with the external scores and age. Built with ``onnx.helper``
    in well under a second (no LightGBM import).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    state = fit_encoding(random_applications(n_rows, seed))
    names = state.feature_names
    weights = np.zeros((len(names), 1), dtype=np.float32)
    for name, weight in {"EXT_SOURCE_MEAN": -5.0, "CREDIT_INCOME_RATIO": 0.3, "AGE_YEARS": -0.03,
                         "DAYS_EMPLOYED_UNEMPLOYED": 0.4, "CODE_GENDER=M": 0.3}.items():
        if name in names:
            weights[names.index(name), 0] = weight
    nodes = [
        helper.make_node("IsNaN", ["input"], ["missing"]),
        helper.make_node("Where", ["missing", "zero", "input"], ["filled"]),
        helper.make_node("MatMul", ["filled", "weights"], ["logit0"]),
        helper.make_node("Add", ["logit0", "bias"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["p1"]),
        helper.make_node("Sub", ["one", "p1"], ["p0"]),
        helper.make_node("Concat", ["p0", "p1"], ["probabilities"], axis=1),
    ]
    initializers = [
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"),
        numpy_helper.from_array(weights, "weights"),
        numpy_helper.from_array(np.array([1.5], dtype=np.float32), "bias"),
    ]
    graph = helper.make_graph(
        nodes, "standin", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, len(names)])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])], initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.onnx").write_bytes(model.SerializeToString())
    metadata = {"version": "standin-test-1", "threshold": {"value": 0.35}, "encoding": state.to_dict(),
                "metrics": {"auc": None}, "note": "stand-in bundle of tests/gateway/bundles.py"}
    (directory / "metadata.json").write_text(json.dumps(metadata))
    return directory
