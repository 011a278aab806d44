"""The model bundle's on-disk format: its file names and its typed metadata.

A bundle is a directory: ``model.onnx`` (what the scorer runs), ``metadata.json``
(version, fitted encoding state, threshold, calibration, metrics, ...), the
training reference sample ``reference.jsonl.gz`` (the drift baseline) and
``model.txt`` (the LightGBM booster, for exact explanations). The metadata is
read and written through :class:`BundleMetadata` only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.exceptions import BundleError

MODEL_FILE = "model.onnx"
METADATA_FILE = "metadata.json"
REFERENCE_FILE = "reference.jsonl.gz"
LIGHTGBM_FILE = "model.txt"


class ThresholdInfo(BaseModel):
    """The decision threshold: ``value`` on calibrated probabilities, and how it was chosen."""

    model_config = ConfigDict(extra="allow")

    value: float = Field(description="refused when the probability of default is at least this")


class BundleMetadata(BaseModel):
    """``metadata.json``: what serving needs, typed; what training records, kept as it is.

    Attributes:
        version: the bundle's model version (answers and events carry it).
        encoding: the fitted encoding state (``shared.encoding.EncodingState.to_dict()``).
        threshold: the decision threshold.
        calibration: Platt scaling of the raw model output (None: served as it is).
        features: the model's input columns.
        created_at: when the bundle was built (ISO-8601).
        metrics: evaluation figures (out-of-fold and holdout).
    """

    model_config = ConfigDict(extra="allow")

    version: str
    encoding: dict[str, Any]
    threshold: ThresholdInfo
    calibration: dict[str, Any] | None = None
    features: list[str] = Field(default_factory=list)
    created_at: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def read(cls, bundle_dir: str | Path) -> BundleMetadata:
        """Read and check a bundle's ``metadata.json``.

        Raises:
            BundleError: the file is missing, not JSON, or lacks a field serving needs.
        """
        path = Path(bundle_dir) / METADATA_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise BundleError(f"{path} is missing: build a bundle with `python -m training build`") from exc
        except json.JSONDecodeError as exc:
            raise BundleError(f"{path} is not valid JSON: {exc}") from exc
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) + f" ({e['type']})" for e in exc.errors())
            raise BundleError(f"{path} lacks or mistypes: {fields}") from exc

    def to_dict(self) -> dict[str, Any]:
        """The metadata as a JSON-ready dict (unknown keys kept)."""
        return self.model_dump(exclude_none=False)

    def write(self, bundle_dir: str | Path) -> None:
        """Write ``metadata.json`` (strict JSON: NaN is refused)."""
        (Path(bundle_dir) / METADATA_FILE).write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
