"""A LightGBM booster as ONNX ``TreeEnsembleRegressor`` models, in the precisions the quantisation study compares.

The bundle's ``model.onnx`` comes from onnxmltools. For the study we need
control over how thresholds and leaves are stored, so this module writes the
same trees itself from ``Booster.dump_model()``:

- ``float32``: thresholds rounded *down* to the largest float32 not above the
  LightGBM double. The encoded inputs are float32, so ``x <= t`` and
  ``x <= floor32(t)`` agree for every input: the splits are exact, only the
  leaf sums are float32.
- ``float32-nearest``: thresholds rounded to the nearest float32 (a naive
  conversion): a float32 input between ``t`` and its rounding goes the other way.
- ``float64``: ai.onnx.ml opset 3's ``nodes_values_as_tensor`` /
  ``target_weights_as_tensor`` double attributes, double input.
- ``binned``: each feature replaced by its bin among the
  model's own split points (``searchsorted``), thresholds replaced by bin
  indices (fed as float32: onnxruntime implements the regressor for float and
  double inputs only; the int64 form is kept to show it). Exact with LightGBM's rules: ``x <= t_j`` iff ``bin(x) <= j``;
  a missing value gets bin -1 for splits that send it left and a bin past the
  last one for splits that send it right; a feature whose splits send missing
  values both ways gets two input columns, one per direction. LightGBM's
  ``missing_type=None`` splits read a missing value as 0.0, so their feature's
  missing values are binned as 0.0.

Every variant ends with LightGBM's sigmoid (a ``Sigmoid`` node: onnxruntime's
regressor leaves ``post_transform=LOGISTIC`` unapplied), so each one outputs
the raw model probability the bundle's calibration then maps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ML_DOMAIN = "ai.onnx.ml"


@dataclass
class Node:
    """One split or leaf of a tree, in ONNX's flat form."""

    tree: int
    node: int
    feature: int = 0
    threshold: float = 0.0
    true_id: int = 0
    false_id: int = 0
    leaf: bool = False
    value: float = 0.0
    missing_left: bool = False  # a missing value goes to the true (left, x <= t) branch
    missing_type: str = "None"


@dataclass
class Forest:
    """A flat list of nodes and the feature count."""

    nodes: list[Node] = field(default_factory=list)
    n_features: int = 0
    n_trees: int = 0


def flatten(booster: Any, num_trees: int | None = None) -> Forest:
    """The booster's first ``num_trees`` trees (all by default) as flat nodes."""
    dump = booster.dump_model(num_iteration=num_trees or -1)
    forest = Forest(n_features=dump["max_feature_idx"] + 1)
    for tree_index, info in enumerate(dump["tree_info"]):
        counter = iter(range(10**9))
        _walk(info["tree_structure"], tree_index, counter, forest.nodes)
        forest.n_trees += 1
    return forest


def _walk(item: dict[str, Any], tree: int, counter: Iterator[int], out: list[Node]) -> int:
    node_id = next(counter)
    node = Node(tree=tree, node=node_id)
    out.append(node)
    if "leaf_value" in item:
        node.leaf, node.value = True, float(item["leaf_value"])
        return node_id
    if item["decision_type"] != "<=":
        raise ValueError(f"unsupported split {item['decision_type']!r} (categorical splits are not converted)")
    node.feature, node.threshold = int(item["split_feature"]), float(item["threshold"])
    node.missing_type = item["missing_type"]
    if node.missing_type == "None":  # LightGBM reads a missing value as 0.0
        node.missing_left = 0.0 <= node.threshold
    else:
        node.missing_left = bool(item["default_left"])
    node.true_id = _walk(item["left_child"], tree, counter, out)
    node.false_id = _walk(item["right_child"], tree, counter, out)
    return node_id


def floor32(value: float) -> np.float32:
    """The largest float32 not above ``value``."""
    f = np.float32(value)
    return f if float(f) <= value else np.nextafter(f, np.float32(-np.inf))


def to_onnx(forest: Forest, precision: str, thresholds: list[float] | None = None,
            missing_left: list[bool] | None = None, n_inputs: int | None = None,
            features: list[int] | None = None) -> bytes:
    """A serialised ONNX model of the forest (``TreeEnsembleRegressor``, LOGISTIC).

    Args:
        forest: the flat trees.
        precision: ``float32``, ``float32-nearest``, ``float64``, ``binned`` (bin indices as float32
            inputs) or ``binned-int64`` (the same as int64 inputs, which the operator allows and
            onnxruntime's regressor kernel does not implement).
        thresholds: per-node thresholds replacing the forest's (the binned form).
        missing_left: per-node missing direction replacing the forest's.
        n_inputs: input width (the binned form may have extra columns).
        features: per-node input column replacing the forest's.

    Returns:
        The model's bytes.
    """
    from onnx import TensorProto, helper

    splits = forest.nodes
    values = thresholds if thresholds is not None else [n.threshold for n in splits]
    if precision == "float32":
        values = [float(floor32(v)) for v in values]
    elif precision == "float32-nearest":
        values = [float(np.float32(v)) for v in values]
    leaves = [n for n in splits if n.leaf]
    attrs: dict[str, Any] = {
        "n_targets": 1,
        "post_transform": "NONE",  # onnxruntime's regressor does not apply LOGISTIC: a Sigmoid node follows
        "nodes_treeids": [n.tree for n in splits],
        "nodes_nodeids": [n.node for n in splits],
        "nodes_featureids": features if features is not None else [n.feature for n in splits],
        "nodes_modes": ["LEAF" if n.leaf else "BRANCH_LEQ" for n in splits],
        "nodes_truenodeids": [n.true_id for n in splits],
        "nodes_falsenodeids": [n.false_id for n in splits],
        "nodes_missing_value_tracks_true": [
            int(m) for m in (missing_left if missing_left is not None else [n.missing_left for n in splits])],
        "target_treeids": [n.tree for n in leaves],
        "target_nodeids": [n.node for n in leaves],
        "target_ids": [0] * len(leaves),
    }
    if precision == "float64":
        attrs["nodes_values_as_tensor"] = helper.make_tensor("v", TensorProto.DOUBLE, [len(values)], values)
        attrs["target_weights_as_tensor"] = helper.make_tensor(
            "w", TensorProto.DOUBLE, [len(leaves)], [n.value for n in leaves])
        elem = TensorProto.DOUBLE
    else:
        attrs["nodes_values"] = [float(v) for v in values]
        attrs["target_weights"] = [float(np.float32(n.value)) for n in leaves]
        elem = TensorProto.INT64 if precision == "binned-int64" else TensorProto.FLOAT
    node = helper.make_node("TreeEnsembleRegressor", ["input"], ["margin"], domain=ML_DOMAIN, **attrs)
    sigmoid = helper.make_node("Sigmoid", ["margin"], ["raw"])
    out_type = TensorProto.FLOAT  # the operator's output is float in every opset, the double kernel included
    graph = helper.make_graph(
        [node, sigmoid], "forest",
        [helper.make_tensor_value_info("input", elem, [None, n_inputs or forest.n_features])],
        [helper.make_tensor_value_info("raw", out_type, [None, 1])])
    ml_opset = 3 if precision == "float64" else 1  # the *_as_tensor attributes came with opset 3
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(ML_DOMAIN, ml_opset)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    return bytes(model.SerializeToString())


@dataclass
class Binning:
    """The split points of each used feature and the input columns of the binned model.

    Attributes:
        columns: per input column, (source feature, sorted split points, bin of a missing value).
        node_columns: per node, its input column.
        node_bins: per node, its threshold as a bin index.
    """

    columns: list[tuple[int, np.ndarray, int]]
    node_columns: list[int]
    node_bins: list[float]

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        """Bins (int32) of an encoded float32 matrix."""
        out = np.empty((matrix.shape[0], len(self.columns)), dtype=np.int32)
        for j, (feature, points, missing_bin) in enumerate(self.columns):
            x = matrix[:, feature]
            bins = np.searchsorted(points, x, side="left").astype(np.int32)
            out[:, j] = np.where(np.isnan(x), missing_bin, bins)
        return out

    def max_bins(self) -> int:
        """The largest bin count of a column (uint8 holds up to 256)."""
        return max(len(points) + 2 for _, points, _ in self.columns)


def binning(forest: Forest) -> Binning:
    """The exact binning of a forest's inputs at its own split points (see the module docstring)."""
    points: dict[int, set[float]] = {}
    directions: dict[int, set[bool]] = {}
    zero_as_missing: dict[int, bool] = {}
    for n in forest.nodes:
        if n.leaf:
            continue
        points.setdefault(n.feature, set()).add(n.threshold)
        if n.missing_type == "None":
            zero_as_missing[n.feature] = True
        else:
            directions.setdefault(n.feature, set()).add(n.missing_left)
    for feature in zero_as_missing:
        if directions.get(feature):  # both kinds of split on one feature: not expected from LightGBM
            raise ValueError(f"feature {feature} has both missing_type None and NaN splits")
    columns: list[tuple[int, np.ndarray, int]] = []
    index: dict[tuple[int, bool], int] = {}
    for feature in sorted(points):
        sorted_points = np.array(sorted(points[feature]), dtype=np.float64)
        if zero_as_missing.get(feature):
            zero_bin = int(np.searchsorted(sorted_points, 0.0, side="left"))
            index[(feature, True)] = index[(feature, False)] = len(columns)
            columns.append((feature, sorted_points, zero_bin))
            continue
        for left in sorted(directions[feature], reverse=True):
            index[(feature, left)] = len(columns)
            columns.append((feature, sorted_points, -1 if left else len(sorted_points) + 1))
    node_columns, node_bins = [], []
    for n in forest.nodes:
        if n.leaf:
            node_columns.append(0)
            node_bins.append(0.0)
            continue
        column = index[(n.feature, n.missing_left)]
        node_columns.append(column)
        node_bins.append(float(np.searchsorted(columns[column][1], n.threshold, side="left")))
    return Binning(columns, node_columns, node_bins)
