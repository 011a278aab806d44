"""ONNX export of the LightGBM model, and the parity check that guards it.

ONNX Runtime evaluates tree ensembles in float32, LightGBM in float64: the
export floors each split threshold to float32 (:func:`floor_thresholds`), and the
check scores the same rows with both and fails the build when a raw
probability differs by more than 1e-4, or when a decision differs for a
probability not within 1e-4 of the threshold. With a calibration, the
decisions are compared twice: raw scores at the raw equivalent of the
threshold, and the calibrated probabilities (what serving decides on) at the
threshold itself.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import lightgbm as lgb
import numpy as np

from shared.scorer import Calibration
from training.exceptions import ParityError

INPUT_NAME = "input"
TARGET_OPSET = 15  # ai.onnx opset; the ML domain gets the converter's matching version
PARITY_TOLERANCE = 1e-4
PARITY_MIN_ROWS = 10_000


@dataclass(frozen=True)
class Parity:
    """Measured agreement between ONNX Runtime and LightGBM."""

    rows: int
    max_abs_diff: float
    decision_mismatches: int
    near_threshold: int
    tolerance: float
    calibrated_decision_mismatches: int = 0
    calibrated_near_threshold: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored in the bundle metadata)."""
        return asdict(self)


def to_onnx(booster: lgb.Booster, n_features: int) -> bytes:
    """Convert a binary LightGBM model to ONNX bytes.

    The graph has one input ``"input"`` (float32, ``[None, n_features]``) and
    outputs ``label`` and ``probabilities`` (``[None, 2]``, no ZipMap).
    """
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    logging.getLogger("skl2onnx").setLevel(logging.ERROR)
    model = convert_lightgbm(
        booster,
        name="credit-scoring",
        initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
        zipmap=False,
        target_opset=TARGET_OPSET,
    )
    floor_thresholds(model, booster)
    return bytes(model.SerializeToString())


def float32_floor(value: float) -> float:
    """The largest float32 not above ``value``: for any float32 x, x <= it exactly when x <= value."""
    with np.errstate(over="ignore"):  # LightGBM writes +-1e300 for "everything": +-inf in float32
        rounded = np.float32(value)
    if float(rounded) > value:
        rounded = np.nextafter(rounded, np.float32(-np.inf))
    return float(rounded)


def floor_thresholds(model: Any, booster: lgb.Booster) -> int:
    """Replace the ONNX split thresholds by the float32 floor of LightGBM's float64 ones.

    The converter rounds each threshold to the nearest float32. LightGBM puts
    thresholds halfway between two training values; when the two are adjacent
    float32 numbers, rounding can land on the upper one, and a row holding
    exactly that value goes left in ONNX (``x <= t``) and right in LightGBM:
    a different leaf, a probability off by 0.01-0.02 (seen on 30,000-row builds
    with seeds 0 and 1). With the floor, every float32 input takes LightGBM's
    branch. The ONNX trees are walked together with LightGBM's (true branch =
    left child), checking the feature at each split.

    Returns:
        how many thresholds changed.

    Raises:
        ValueError: the two trees do not have the same shape (a converter change).
    """
    ensemble = next(node for node in model.graph.node if node.op_type.startswith("TreeEnsemble"))
    attrs = {a.name: a for a in ensemble.attribute}
    tree_ids, node_ids = list(attrs["nodes_treeids"].ints), list(attrs["nodes_nodeids"].ints)
    features, modes = list(attrs["nodes_featureids"].ints), list(attrs["nodes_modes"].strings)
    true_ids, false_ids = list(attrs["nodes_truenodeids"].ints), list(attrs["nodes_falsenodeids"].ints)
    values = attrs["nodes_values"].floats
    position = {(tree, node): i for i, (tree, node) in enumerate(zip(tree_ids, node_ids, strict=True))}
    changed = 0

    def walk(tree: int, node: dict[str, Any], onnx_id: int) -> None:
        nonlocal changed
        if "split_feature" not in node:
            return
        i = position[(tree, onnx_id)]
        if features[i] != node["split_feature"] or node["decision_type"] != "<=" or modes[i] != b"BRANCH_LEQ":
            raise ValueError(f"tree {tree}: ONNX node {onnx_id} does not match LightGBM's split")
        floor = float32_floor(float(node["threshold"]))
        if values[i] != floor:
            values[i] = floor
            changed += 1
        walk(tree, node["left_child"], true_ids[i])
        walk(tree, node["right_child"], false_ids[i])

    for tree, info in enumerate(booster.dump_model()["tree_info"]):
        walk(tree, info["tree_structure"], 0)
    return changed


def onnx_session(model: bytes, threads: int = 1) -> Any:
    """An ONNX Runtime session on model bytes (CPU)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def onnx_probabilities(session: Any, X: np.ndarray, batch: int = 50_000) -> np.ndarray:
    """Probability of default for each row, from an ONNX session."""
    names = [o.name for o in session.get_outputs()]
    output = next((n for n in names if "prob" in n.lower()), names[-1])
    parts = []
    for start in range(0, len(X), batch):
        out = np.asarray(session.run([output], {INPUT_NAME: X[start : start + batch]})[0])
        parts.append(out[:, 1] if out.ndim == 2 else out)
    return np.concatenate(parts)


def parity_matrix(X: np.ndarray, seed: int, rows: int = PARITY_MIN_ROWS, missing_share: float = 0.1) -> np.ndarray:
    """Rows to check parity on: training rows, and as many again with random blanks.

    The blanked copy exercises the missing-value branches of every tree, as a
    client leaving optional fields empty would.
    """
    rng = np.random.default_rng(seed)
    half = max(rows // 2, 1)
    base = X[rng.choice(len(X), size=half, replace=len(X) < half)]
    blanked = base.copy()
    blanked[rng.random(blanked.shape) < missing_share] = np.nan
    return np.ascontiguousarray(np.vstack([base, blanked]), dtype=np.float32)


def _mismatches(p_onnx: np.ndarray, p_lgb: np.ndarray, threshold: float, tolerance: float) -> tuple[int, int]:
    """Decisions that differ, and how many of them are within ``tolerance`` of the threshold."""
    mismatch = (p_onnx >= threshold) != (p_lgb >= threshold)
    near = np.abs(p_lgb - threshold) < tolerance
    return int(mismatch.sum()), int((mismatch & near).sum())


def check_parity(
    session: Any,
    booster: lgb.Booster,
    X: np.ndarray,
    threshold: float,
    tolerance: float = PARITY_TOLERANCE,
    calibration: Calibration | None = None,
) -> Parity:
    """Compare ONNX Runtime and LightGBM on ``X``.

    Args:
        session: ONNX Runtime session of the exported model.
        booster: the LightGBM model it was exported from.
        X: encoded rows.
        threshold: the decision threshold, on calibrated probabilities when
            ``calibration`` is given (on raw ones otherwise).
        tolerance: largest allowed |p_onnx - p_lightgbm|, and the distance to
            the threshold within which a decision may differ.
        calibration: the bundle's calibration (None: raw scores are the probabilities).

    Raises:
        ParityError: max |p_onnx - p_lightgbm| > tolerance (raw outputs), or a
            decision differs (raw, or calibrated) for a probability farther than
            ``tolerance`` from the threshold.
    """
    calibration = calibration or Calibration()
    p_onnx = onnx_probabilities(session, X).astype(np.float64)
    p_lgb = np.asarray(booster.predict(X), dtype=np.float64)
    diff = np.abs(p_onnx - p_lgb)
    mismatches, near = _mismatches(p_onnx, p_lgb, calibration.inverse(threshold), tolerance)
    calibrated, calibrated_near = _mismatches(
        calibration.apply(p_onnx), calibration.apply(p_lgb), threshold, tolerance
    )
    parity = Parity(
        rows=len(X),
        max_abs_diff=float(diff.max()),
        decision_mismatches=mismatches,
        near_threshold=near,
        tolerance=tolerance,
        calibrated_decision_mismatches=calibrated,
        calibrated_near_threshold=calibrated_near,
    )
    if parity.max_abs_diff > tolerance:
        worst = int(diff.argmax())
        raise ParityError(
            f"ONNX and LightGBM disagree: max |p_onnx - p_lightgbm| = {parity.max_abs_diff:.3g} > {tolerance:g} "
            f"(row {worst}: {p_onnx[worst]:.6f} vs {p_lgb[worst]:.6f})"
        )
    if parity.decision_mismatches > parity.near_threshold:
        raise ParityError(
            f"ONNX and LightGBM decide differently on {parity.decision_mismatches - parity.near_threshold} row(s) "
            f"farther than {tolerance:g} from the threshold {calibration.inverse(threshold):.6f} (raw scores)"
        )
    if parity.calibrated_decision_mismatches > parity.calibrated_near_threshold:
        raise ParityError(
            f"calibrated ONNX and LightGBM probabilities decide differently on "
            f"{parity.calibrated_decision_mismatches - parity.calibrated_near_threshold} row(s) "
            f"farther than {tolerance:g} from the threshold {threshold:.6f}"
        )
    return parity
