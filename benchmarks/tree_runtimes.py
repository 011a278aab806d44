"""The runtimes and model forms the quantisation study compares, each ``float32 matrix -> raw probability``.

Every variant takes the encoded float32 matrix the gateway builds, so any
conversion it needs (a cast to float64, the binning) is inside its timing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import log
from benchmarks.trees import binning, flatten, to_onnx

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass
class Variant:
    """One way to score: its function, its size on disk and what it is."""

    name: str
    predict: Predict
    size_bytes: int
    what: str
    group: str
    extra: dict[str, Any] = field(default_factory=dict)
    scorer: Any = None  # another bundle's scorer: its calibration and threshold decide (None: the study's bundle)


def _session(model: bytes | str, level: str = "ENABLE_ALL", threads: int = 1, **config: str) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, f"ORT_{level}")
    for key, value in config.items():
        options.add_session_config_entry(key.replace("__", "."), value)
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _ort_predict(session: Any, output: int = 0, column: int = 0, cast: Any = None) -> Predict:
    name = session.get_inputs()[0].name
    run = session.run
    if cast is None:
        return lambda m: run(None, {name: m})[output][:, column]
    return lambda m: run(None, {name: m.astype(cast)})[output][:, column]


def shipped_variants(bundle: Path) -> list[Variant]:
    """The bundle's own model.onnx under onnxruntime's optimisation levels and session options."""
    path = str(bundle / "model.onnx")
    size = (bundle / "model.onnx").stat().st_size
    out = []
    for level in ("ENABLE_ALL", "DISABLE_ALL", "ENABLE_BASIC", "ENABLE_EXTENDED"):  # the shipped one first
        session = _session(path, level)
        out.append(Variant(f"onnx {level.lower()}", _ort_predict(session, 1, 1), size,
                           f"bundle's model.onnx, graph_optimization_level ORT_{level}, 1 thread", "ort-options"))
    session = _session(path, "ENABLE_ALL", session__intra_op__allow_spinning="0")
    out.append(Variant("onnx all, no spinning", _ort_predict(session, 1, 1), size,
                       "ORT_ENABLE_ALL, session.intra_op.allow_spinning=0", "ort-options"))
    session = _session(path, "ENABLE_ALL", threads=2)
    out.append(Variant("onnx all, 2 threads", _ort_predict(session, 1, 1), size,
                       "ORT_ENABLE_ALL, intra_op_num_threads=2", "ort-options"))
    return out


def precision_variants(booster: Any) -> list[Variant]:
    """The same trees written with float32 / float64 thresholds and leaves, and binned inputs."""
    forest = flatten(booster)
    out = []
    for precision, what in (
        ("float32", "thresholds rounded down to float32 (exact splits), float32 leaves"),
        ("float32-nearest", "thresholds rounded to the nearest float32 (naive), float32 leaves"),
        ("float64", "ai.onnx.ml opset 3 *_as_tensor double thresholds and leaves, float64 input"),
    ):
        model = to_onnx(forest, precision)
        cast = np.float64 if precision == "float64" else None
        out.append(Variant(f"trees {precision}", _ort_predict(_session(model), cast=cast), len(model), what,
                           "precision"))
    bins = binning(forest)
    model = to_onnx(forest, "binned", thresholds=bins.node_bins, features=bins.node_columns,
                    n_inputs=len(bins.columns))
    session = _session(model)
    predict = _ort_predict(session)
    out.append(Variant(
        "binned inputs", lambda m: predict(bins.transform(m).astype(np.float32)), len(model),
        f"inputs binned at the model's split points ({len(bins.columns)} columns, at most {bins.max_bins()} bins: "
        "uint8 would hold them), thresholds as bin indices; binning time included", "precision",
        {"columns": len(bins.columns), "max_bins": bins.max_bins(),
         "payload_bytes_per_row_float32": forest.n_features * 4, "payload_bytes_per_row_uint8": len(bins.columns)}))
    try:
        _session(to_onnx(forest, "binned-int64", thresholds=bins.node_bins, features=bins.node_columns,
                         n_inputs=len(bins.columns)))
        out[-1].extra["int64_inputs"] = "supported"
    except Exception as exc:  # onnxruntime: NOT_IMPLEMENTED for integer inputs of the regressor
        out[-1].extra["int64_inputs"] = str(exc).splitlines()[0][:200]
    return out


def truncated_variants(booster: Any, fractions: tuple[float, ...] = (0.5, 0.25)) -> list[Variant]:
    """The first trees only: the accuracy-for-speed trade of a smaller ensemble."""
    total = booster.num_trees()
    out = []
    for fraction in fractions:
        keep = max(1, int(round(total * fraction)))
        model = to_onnx(flatten(booster, keep), "float32")
        out.append(Variant(f"first {keep} of {total} trees", _ort_predict(_session(model)), len(model),
                           f"the first {keep} trees (float32 form), the bundle's calibration and threshold kept",
                           "fewer trees"))
    return out


def compiled_variants(bundle: Path, cache: Path) -> list[Variant]:
    """lleaves (LLVM) and treelite + tl2cgen (C via gcc), when installed; each 1 thread."""
    out = []
    cache.mkdir(parents=True, exist_ok=True)
    model_txt = str(bundle / "model.txt")
    try:
        import lleaves  # type: ignore[import-not-found]
    except ImportError:
        log("lleaves not installed: skipped (pip install -c constraints.txt '.[bench]')")
    else:
        library = cache / "lleaves.so"
        model = lleaves.Model(model_file=model_txt)
        started = time.perf_counter()
        model.compile(cache=str(library))
        seconds = time.perf_counter() - started
        out.append(Variant("lleaves", lambda m: model.predict(m.astype(np.float64), n_jobs=1),
                           library.stat().st_size, "LightGBM model compiled by LLVM (lleaves), float64 input",
                           "compiled", {"compile_s": round(seconds, 1)}))
    try:
        import tl2cgen  # type: ignore[import-not-found]
        import treelite  # type: ignore[import-not-found]
    except ImportError:
        log("treelite/tl2cgen not installed: skipped (pip install -c constraints.txt '.[bench]')")
    else:
        library = cache / "treelite.so"
        started = time.perf_counter()
        tl_model = treelite.frontend.load_lightgbm_model(model_txt)
        tl2cgen.export_lib(tl_model, toolchain="gcc", libpath=str(library), params={"parallel_comp": 8},
                           nthread=1)
        seconds = time.perf_counter() - started
        predictor = tl2cgen.Predictor(str(library), nthread=1)
        out.append(Variant("treelite (tl2cgen, gcc)",
                           lambda m: np.asarray(predictor.predict(tl2cgen.DMatrix(m))).reshape(len(m), -1)[:, -1],
                           library.stat().st_size, "treelite model compiled to C by tl2cgen, gcc -O3, float32 input",
                           "compiled", {"compile_s": round(seconds, 1)}))
    return out


def alternative_variants(bundles: list[Path], feature_names: list[str]) -> list[Variant]:
    """Other bundles built by ``python -m training build`` (fewer leaves, fewer trees), each with its own
    calibration and threshold, scored on the same encoded rows (same features required)."""
    from shared.scorer import Scorer

    out = []
    for path in bundles:
        scorer = Scorer.load(path)
        if scorer.state.feature_names != feature_names:
            log(f"{path}: other features than the studied bundle: skipped")
            continue
        training = scorer.metadata.get("training", {})
        out.append(Variant(
            f"retrained: {training.get('num_leaves')} leaves, {training.get('final_rounds')} trees",
            scorer.predict_proba, (path / "model.onnx").stat().st_size,
            f"{path.name}: another build (num_leaves {training.get('num_leaves')}, learning rate "
            f"{training.get('learning_rate')}), its own calibration and threshold", "retrained", scorer=scorer))
    return out

