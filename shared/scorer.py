"""The scorer: loads a model bundle once and scores applications with ONNX Runtime.

No pandas and no LightGBM on this path: the bundle's ``model.onnx`` and the
encoding state in ``metadata.json`` are all it needs.

The model is trained with the defaults weighted up (class imbalance), so its
raw output is a risk score pushed upwards. The bundle's ``calibration`` (Platt
scaling fitted on the out-of-fold scores) maps it to a probability of default;
that calibrated probability is what :meth:`Scorer.score` returns and compares
with the threshold. A bundle without ``calibration`` is served as it is.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from shared.bundle import METADATA_FILE, MODEL_FILE, REFERENCE_FILE, BundleMetadata
from shared.encoding import EncodingState, encode
from shared.exceptions import BundleError

__all__ = ["METADATA_FILE", "MODEL_FILE", "REFERENCE_FILE", "Decision", "ScoreResult", "Scorer", "decide"]
Decision = Literal["approved", "refused"]
CALIBRATION_METHOD = "platt"
# raw probabilities are kept this far from 0 and 1 (ONNX's float32 output can reach them)
_EPSILON = 1e-15
_SMALL_BATCH = 8  # up to this many rows, calibration runs on plain floats (cheaper than numpy's call overhead)


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """The answer for one application.

    Attributes:
        probability: estimated probability of default, in [0, 1] (calibrated
            when the bundle has a calibration).
        decision: "refused" when probability >= threshold, else "approved".
        threshold: the bundle's business-cost threshold.
        model_version: the bundle's version.
        inference_ms: encoding + model time for the call that produced it
            (for a batch: the whole batch's time).
    """

    probability: float
    decision: Decision
    threshold: float
    model_version: str
    inference_ms: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "probability": self.probability,
            "decision": self.decision,
            "threshold": self.threshold,
            "model_version": self.model_version,
            "inference_ms": self.inference_ms,
        }


@dataclass(frozen=True, slots=True)
class Calibration:
    """Platt scaling of a raw model probability: ``sigmoid(a * logit(raw) + b)``.

    With ``a > 0`` the map is strictly increasing, so it keeps the ranking (AUC)
    and every decision of a threshold moved through it. ``a = 1, b = 0`` is the
    identity (bundles built before calibration).

    Attributes:
        a: slope on the logit of the raw probability (> 0).
        b: intercept.
    """

    a: float = 1.0
    b: float = 0.0

    @property
    def identity(self) -> bool:
        """True when the map changes nothing."""
        return self.a == 1.0 and self.b == 0.0

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (float64) of raw probabilities; ``raw`` itself for the identity.

        Vectorised with numpy; a few rows (a single application) go through
        plain floats instead, which costs a couple of microseconds where the
        numpy calls' fixed overhead would cost ten times that.
        """
        if self.identity:
            return raw
        raw = np.asarray(raw)
        if raw.size <= _SMALL_BATCH:
            return np.array([self.apply_one(v) for v in raw.ravel().tolist()], dtype=np.float64).reshape(raw.shape)
        p = np.clip(raw.astype(np.float64), _EPSILON, 1.0 - _EPSILON)
        # sigmoid(a * logit(p) + b) = 1 / (1 + exp(-b) * ((1 - p) / p) ** a): fewer passes over the array
        with np.errstate(over="ignore"):  # a huge odds ratio gives inf, and the probability 0
            return 1.0 / (1.0 + math.exp(-self.b) * ((1.0 - p) / p) ** self.a)  # type: ignore[no-any-return]

    def apply_one(self, raw: float) -> float:
        """The calibrated probability of one raw probability."""
        p = min(max(raw, _EPSILON), 1.0 - _EPSILON)
        try:
            return 1.0 / (1.0 + math.exp(-self.b) * ((1.0 - p) / p) ** self.a)
        except OverflowError:
            return 0.0

    def inverse(self, probability: float) -> float:
        """The raw probability that calibrates to ``probability`` (maps a threshold back to raw scores)."""
        if self.identity:
            return probability
        p = min(max(probability, _EPSILON), 1.0 - _EPSILON)
        z = (math.log(p / (1.0 - p)) - self.b) / self.a
        return 1.0 / (1.0 + math.exp(-z))

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> Calibration:
        """The bundle's calibration, or the identity when ``metadata`` has no ``calibration`` key.

        Raises:
            BundleError: an unknown method, or a slope that is not a positive number.
        """
        record = metadata.get("calibration")
        if record is None:
            return cls()
        if record.get("method") != CALIBRATION_METHOD:
            raise BundleError(f"unknown calibration method {record.get('method')!r} (expected {CALIBRATION_METHOD!r})")
        try:
            a, b = float(record["a"]), float(record["b"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"calibration needs numbers 'a' and 'b': {exc}") from exc
        if not (math.isfinite(a) and math.isfinite(b) and a > 0):
            raise BundleError(f"calibration slope a must be a positive finite number, got a={a}, b={b}")
        return cls(a, b)


def decide(probability: float, threshold: float) -> Decision:
    """The business decision for one probability of default."""
    return "refused" if probability >= threshold else "approved"


class Scorer:
    """An ONNX model bundle loaded once, ready to score.

    Build it with :meth:`load`; it is safe to share between threads (ONNX
    Runtime sessions are thread-safe for ``run``). ``threshold`` applies to
    calibrated probabilities (see :attr:`calibration`).
    """

    def __init__(self, session: Any, metadata: dict[str, Any], bundle_dir: Path) -> None:
        self.session = session
        self.metadata = metadata
        self.bundle_dir = bundle_dir
        self.state = EncodingState.from_dict(metadata["encoding"])
        self.threshold = float(metadata["threshold"]["value"])
        self.calibration = Calibration.from_metadata(metadata)
        self.model_version = str(metadata["version"])
        self._input = session.get_inputs()[0].name
        self._output = _probability_output(session)
        # ONNX Runtime's Python ``run`` checks the feed's names and types on every call before it calls
        # its C++ session (about a third of a single row's inference): the feed built here is always right.
        self._run = getattr(getattr(session, "_sess", None), "run", None) or session.run
        if session.get_inputs()[0].shape[-1] not in (self.state.n_features, None, "None"):
            raise BundleError(
                f"model expects {session.get_inputs()[0].shape[-1]} features, encoding gives {self.state.n_features}"
            )

    @classmethod
    def load(cls, bundle_dir: str | Path, threads: int = 1) -> Scorer:
        """Load a bundle directory.

        Args:
            bundle_dir: directory holding ``model.onnx`` and ``metadata.json``.
            threads: ONNX Runtime intra-op threads (1 suits single rows).

        Raises:
            BundleError: when a file is missing or the metadata is inconsistent.
        """
        import onnxruntime as ort  # imported here: a module import must stay cheap

        path = Path(bundle_dir)
        for name in (MODEL_FILE, METADATA_FILE):
            if not (path / name).is_file():
                raise BundleError(f"{path / name} is missing: build a bundle with `python -m training build`")
        metadata = BundleMetadata.read(path).to_dict()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path / MODEL_FILE), options, providers=["CPUExecutionProvider"])
        try:
            return cls(session, metadata, path)
        except KeyError as exc:
            raise BundleError(f"{path / METADATA_FILE} lacks {exc}") from exc

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        """The model's raw output for an encoded float32 matrix (a risk score, before calibration).

        This is what LightGBM's ``predict`` gives (the ONNX parity is checked
        on it); :meth:`calibrate` turns it into a probability of default.
        """
        out = np.asarray(self._run([self._output], {self._input: matrix}, None)[0])
        return out[:, 1] if out.ndim == 2 else out

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Probabilities of default from raw model outputs (the bundle's calibration; identity without one)."""
        return self.calibration.apply(raw)

    def score(self, application: Mapping[str, Any]) -> ScoreResult:
        """Score one application (a dict of the raw columns, None = missing)."""
        return self.score_batch([application])[0]

    def score_batch(self, applications: Sequence[Mapping[str, Any]]) -> list[ScoreResult]:
        """Score many applications as one matrix."""
        if not applications:
            return []
        start = time.perf_counter()
        raw = self.predict_proba(encode(applications, self.state))
        threshold, version = self.threshold, self.model_version
        if len(applications) == 1:  # one application: its float calibrated directly (the same value)
            calibration = self.calibration
            p = float(raw[0]) if calibration.identity else calibration.apply_one(float(raw[0]))
            return [ScoreResult(p, decide(p, threshold), threshold, version,
                                (time.perf_counter() - start) * 1000.0)]
        probabilities = self.calibrate(raw)
        elapsed = (time.perf_counter() - start) * 1000.0
        return [
            ScoreResult(p, decide(p, threshold), threshold, version, elapsed) for p in probabilities.tolist()
        ]


def _probability_output(session: Any) -> str:
    outputs = session.get_outputs()
    for output in outputs:
        if "prob" in output.name.lower():
            return str(output.name)
    return str(outputs[-1].name)
