"""Exact reasons for a decision: each field's share of the calibrated log-odds.

LightGBM's own TreeSHAP (``pred_contrib``, called in its C library by
:mod:`shared.treeshap`) splits the model's margin of one application exactly into one contribution per encoded
column plus the expected margin. The served probability is Platt-calibrated,
``p = sigmoid(a * margin + b)``, so every contribution is multiplied by ``a``
and the base value is ``a * expected_margin + b``: the contributions then add
up to the calibrated log-odds (``raw_score``) and ``sigmoid(raw_score)`` is the
probability the answer carries (to float32 precision: ONNX keeps the score).

The encoded columns are mapped back to the fields a person knows
(:mod:`shared.explain_fields`): the one-hot columns of a categorical field and
the "not employed" flag of ``DAYS_EMPLOYED`` add up to their field; a derived
column (``CREDIT_INCOME_RATIO``, ``EXT_SOURCE_MEAN``, ...) keeps its own name
and says which fields it was computed from.

The LightGBM model is loaded once, beside the ONNX session (in a background
thread: :class:`ExplainerLoader`); scoring without explanations never touches it.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shared.encoding import EncodingState, encode
from shared.exceptions import BundleError
from shared.explain_fields import FieldMap, field_map
from shared.scorer import Calibration
from shared.treeshap import TreeShap

LIGHTGBM_FILE = "model.txt"
TOP_REASONS = 5
RAISES = "raises risk"
LOWERS = "lowers risk"


def _value(value: Any) -> Any:
    """A field's value as JSON: None for missing (None or NaN), numbers as they came."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _derived_value(value: float) -> float | None:
    """A derived column's float32 value, shown with the 7 significant digits float32 holds."""
    return None if math.isnan(value) else float(f"{value:.7g}")


class Explainer:
    """Exact per-field contributions of a bundle's model, on the calibrated log-odds scale.

    Build it with :meth:`load` (or from a loaded :class:`~shared.treeshap.TreeShap`);
    thread-safe for ``explain``.

    Attributes:
        model: the LightGBM model in the C library (exact TreeSHAP).
        fields: the field map (encoded columns -> fields).
        calibration: the bundle's Platt map (identity without one).
        top: how many reasons an explanation lists.
    """

    def __init__(self, model: TreeShap, state: EncodingState, calibration: Calibration, top: int = TOP_REASONS) -> None:
        if model.num_features != state.n_features:
            raise BundleError(f"{LIGHTGBM_FILE} has {model.num_features} features, the encoding {state.n_features}")
        self.model = model
        self.state = state
        self.calibration = calibration
        self.top = top
        self.fields: FieldMap = field_map(state)
        # encoded columns x fields, 0/1 (each column in exactly one field), pre-scaled by the Platt slope
        self._grouping = self.fields.matrix() * calibration.a

    @classmethod
    def load(cls, bundle_dir: str | Path, metadata: Mapping[str, Any], top: int = TOP_REASONS) -> Explainer:
        """Load the LightGBM model of a bundle (``model.txt``).

        Args:
            bundle_dir: the bundle directory.
            metadata: its ``metadata.json`` (encoding state, calibration).
            top: reasons per explanation.

        Raises:
            BundleError: ``model.txt`` is missing or does not match the encoding.
        """
        path = Path(bundle_dir) / LIGHTGBM_FILE
        if not path.is_file():
            raise BundleError(f"{path} is missing: explanations need the bundle's LightGBM model")
        state = EncodingState.from_dict(metadata["encoding"])
        return cls(TreeShap(path), state, Calibration.from_metadata(metadata), top)

    def contributions(self, matrix: np.ndarray, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Base values and per-field contributions of encoded rows, on the calibrated log-odds scale.

        Args:
            matrix: the encoded float32 rows (``shared.encoding.encode``).
            threads: LightGBM threads for a batch (default 1: on one row, OpenMP's start-up
                costs more than the TreeSHAP itself; more pays only on thousands of rows).

        Returns:
            ``(base, contributions)``: ``base`` of shape ``(n,)``, ``contributions``
            of shape ``(n, len(fields))`` in :attr:`fields` order; ``base + contributions.sum(1)``
            is the calibrated log-odds of each row.
        """
        raw = self.model.contributions(matrix, threads)
        base = self.calibration.a * raw[:, -1] + self.calibration.b
        return base, raw[:, :-1] @ self._grouping

    def explain(self, applications: Sequence[Mapping[str, Any]],
                matrix: np.ndarray | None = None) -> list[dict[str, Any]]:
        """The explanation of each application, in the answer's JSON shape.

        Args:
            applications: the raw applications (their values are shown beside the reasons).
            matrix: their encoded rows when the caller already has them (encoded here otherwise).

        Returns:
            One ``{"raw_score", "base_value", "reasons", "rest"}`` per application:
            the ``top`` fields with the largest absolute contribution, largest first,
            and the sum of all the others.
        """
        if not applications:
            return []
        if matrix is None:
            matrix = encode(applications, self.state)
        base, contributions = self.contributions(matrix)
        return [
            self._one(application, float(b), row, matrix[i])
            for i, (application, b, row) in enumerate(zip(applications, base.tolist(), contributions, strict=True))
        ]

    def _one(self, application: Mapping[str, Any], base: float, row: np.ndarray, encoded: np.ndarray) -> dict[str, Any]:
        k = min(self.top, len(row))
        top = np.argpartition(-np.abs(row), k - 1)[:k] if k < len(row) else np.arange(len(row))
        top = top[np.argsort(-np.abs(row[top]), kind="stable")]
        values = row.tolist()
        reasons = []
        for index in top.tolist():
            name = self.fields.names[index]
            contribution = values[index]
            column = self.fields.derived_column.get(name)
            value = _derived_value(float(encoded[column])) if column is not None else _value(application.get(name))
            reason: dict[str, Any] = {
                "field": name,
                "value": value,
                "contribution": contribution,
                "direction": RAISES if contribution > 0 else LOWERS,
            }
            if column is not None:
                reason["derived_from"] = list(self.fields.derived_from[name])
            reasons.append(reason)
        total = math.fsum(values)
        shown = math.fsum(reason["contribution"] for reason in reasons)
        return {"raw_score": base + total, "base_value": base, "reasons": reasons, "rest": total - shown}

    def importance(self, matrix: np.ndarray, threads: int | None = None) -> list[dict[str, Any]]:
        """Global importance: the mean absolute contribution of each field over ``matrix``, largest first."""
        _, contributions = self.contributions(matrix, threads)
        means = np.abs(contributions).mean(axis=0)
        order = np.argsort(-means, kind="stable")
        return [{"field": self.fields.names[i], "mean_abs_contribution": float(means[i])} for i in order.tolist()]


def sigmoid(x: float) -> float:
    """The probability of a log-odds value."""
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


class ExplainerLoader:
    """Loads a bundle's :class:`Explainer` in a background thread, started beside the ONNX session.

    Loading LightGBM's library and parsing ``model.txt`` take a tenth of a
    second for the default model, more for large ones; started at load time in
    a daemon thread, they stay off the service's start-up path, and the first
    request that asks for an explanation waits for them only if they have not
    finished.
    """

    def __init__(self, bundle_dir: str | Path, metadata: Mapping[str, Any], top: int = TOP_REASONS) -> None:
        self._bundle_dir, self._metadata, self._top = Path(bundle_dir), metadata, top
        self._done = threading.Event()
        self._explainer: Explainer | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._load, name="explainer-load", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        try:
            self._explainer = Explainer.load(self._bundle_dir, self._metadata, self._top)
        except BaseException as exc:  # kept and raised by get(): a thread's exception is otherwise lost
            self._error = exc
        finally:
            self._done.set()

    @property
    def ready(self) -> bool:
        """True once the explainer is loaded (or failed to load)."""
        return self._done.is_set()

    def get(self, timeout: float | None = None) -> Explainer:
        """The explainer, waiting for the load to finish.

        Raises:
            BundleError: the load failed (no ``model.txt``, another encoding) or did not finish in ``timeout`` s.
        """
        if not self._done.wait(timeout):
            raise BundleError(f"the explainer of {self._bundle_dir} is still loading")
        if self._error is not None:
            if isinstance(self._error, BundleError):
                raise self._error
            raise BundleError(f"cannot load the explainer of {self._bundle_dir}: {self._error}") from self._error
        assert self._explainer is not None
        return self._explainer


_LOADERS: weakref.WeakKeyDictionary[Any, ExplainerLoader] = weakref.WeakKeyDictionary()
_LOADERS_LOCK = threading.Lock()


def explainer_of(scorer: Any) -> ExplainerLoader:
    """The explainer of a loaded scorer's bundle, started loading at the first call, shared by its users.

    Kept as long as the scorer is: when a new champion is swapped in, its own explainer
    follows it, and requests still holding the old scorer keep the old one.

    Args:
        scorer: a :class:`shared.scorer.Scorer` (its ``bundle_dir`` and ``metadata``).
    """
    with _LOADERS_LOCK:
        loader = _LOADERS.get(scorer)
        if loader is None:
            loader = ExplainerLoader(scorer.bundle_dir, scorer.metadata)
            _LOADERS[scorer] = loader
        return loader
