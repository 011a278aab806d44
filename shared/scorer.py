"""The scorer: loads a model bundle once and scores applications with ONNX Runtime.

No pandas and no LightGBM on this path: the bundle's ``model.onnx`` and the
encoding state in ``metadata.json`` are all it needs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from shared.encoding import EncodingState, encode
from shared.exceptions import BundleError

Decision = Literal["approved", "refused"]
MODEL_FILE = "model.onnx"
METADATA_FILE = "metadata.json"
REFERENCE_FILE = "reference.jsonl.gz"


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """The answer for one application.

    Attributes:
        probability: estimated probability of default, in [0, 1].
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


def decide(probability: float, threshold: float) -> Decision:
    """The business decision for one probability of default."""
    return "refused" if probability >= threshold else "approved"


class Scorer:
    """An ONNX model bundle loaded once, ready to score.

    Build it with :meth:`load`; it is safe to share between threads (ONNX
    Runtime sessions are thread-safe for ``run``).
    """

    def __init__(self, session: Any, metadata: dict[str, Any], bundle_dir: Path) -> None:
        self.session = session
        self.metadata = metadata
        self.bundle_dir = bundle_dir
        self.state = EncodingState.from_dict(metadata["encoding"])
        self.threshold = float(metadata["threshold"]["value"])
        self.model_version = str(metadata["version"])
        self._input = session.get_inputs()[0].name
        self._output = _probability_output(session)
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
        try:
            metadata = json.loads((path / METADATA_FILE).read_text())
        except json.JSONDecodeError as exc:
            raise BundleError(f"{path / METADATA_FILE} is not valid JSON: {exc}") from exc
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
        """Probabilities of default for an encoded float32 matrix."""
        out = self.session.run([self._output], {self._input: matrix})[0]
        out = np.asarray(out)
        return out[:, 1] if out.ndim == 2 else out

    def score(self, application: Mapping[str, Any]) -> ScoreResult:
        """Score one application (a dict of the raw columns, None = missing)."""
        return self.score_batch([application])[0]

    def score_batch(self, applications: Sequence[Mapping[str, Any]]) -> list[ScoreResult]:
        """Score many applications as one matrix."""
        if not applications:
            return []
        start = time.perf_counter()
        probabilities = self.predict_proba(encode(applications, self.state))
        elapsed = (time.perf_counter() - start) * 1000.0
        threshold, version = self.threshold, self.model_version
        return [
            ScoreResult(p, decide(p, threshold), threshold, version, elapsed) for p in probabilities.tolist()
        ]


def _probability_output(session: Any) -> str:
    outputs = session.get_outputs()
    for output in outputs:
        if "prob" in output.name.lower():
            return str(output.name)
    return str(outputs[-1].name)
