"""Results of a drift run: one check per (feature, test), and the run summary."""

from __future__ import annotations

import math
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

OK = "ok"
NOT_ENOUGH_DATA = "not_enough_data"
NO_REFERENCE = "no_reference"


@dataclass
class FeatureCheck:
    """One test on one feature.

    Attributes:
        name: feature name (or ``score``).
        test: ``wasserstein``, ``jensenshannon``, ``psi``, ``missing_share`` or ``special_value_share``.
        value: the test's value (distance, PSI, or absolute change of a share); None when not computed.
        threshold: value at or above which the check flags drift (for distances: the configured
            threshold, or the noise floor when the window is so small that chance alone reaches it).
        drifted: the verdict.
        status: ``ok``, ``not_enough_data`` or ``no_reference``.
        reference_value / current_value: the two shares (share checks) or means (distribution checks).
        noise_floor: for distances, the value chance alone would reach on a window of this size, plus
            what a difference of resolution alone gives (a window on a lattice the reference lacks).
    """

    name: str
    test: str
    value: float | None
    threshold: float
    drifted: bool
    kind: str = ""
    status: str = OK
    n_reference: int = 0
    n_current: int = 0
    reference_value: float | None = None
    current_value: float | None = None
    noise_floor: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN as None)."""
        return {k: _clean(v) for k, v in asdict(self).items()}


@dataclass
class DriftResult:
    """The outcome of one drift run."""

    status: str
    window: dict[str, Any]
    n_current: int
    n_reference: int
    checks: list[FeatureCheck] = field(default_factory=list)
    score: FeatureCheck | None = None
    n_features: int = 0
    share_drifted: float | None = None
    drifted_features: list[str] = field(default_factory=list)
    share_threshold: float = 0.3
    distributions: dict[str, dict[str, Any]] = field(default_factory=dict)
    model_version: str | None = None
    message: str = ""
    report_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    timestamp: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds")
                           .replace("+00:00", "Z"))
    duration_s: float | None = None
    timings: dict[str, float] = field(default_factory=dict)
    report_html: str | None = None

    @property
    def drift_detected(self) -> bool:
        """Any feature or the score drifted."""
        return bool(self.drifted_features) or bool(self.score and self.score.drifted)

    @property
    def severity(self) -> str | None:
        """None (no drift), ``warning`` (some features) or ``critical`` (score or many features)."""
        if not self.drift_detected:
            return None
        many = self.share_drifted is not None and self.share_drifted >= self.share_threshold
        return "critical" if many or (self.score and self.score.drifted) else "warning"

    def summary(self) -> dict[str, Any]:
        """The ``--json`` object: ``window``, ``features``, ``share_drifted``, ``report_html`` and a few more."""
        return {
            "report_id": self.report_id,
            "timestamp": self.timestamp,
            "status": self.status,
            "message": self.message,
            "window": self.window,
            "n_current": self.n_current,
            "n_reference": self.n_reference,
            "model_version": self.model_version,
            "features": [c.to_dict() for c in self.checks],
            "score": self.score.to_dict() if self.score else None,
            "n_features": self.n_features,
            "share_drifted": _clean(self.share_drifted),
            "drifted_features": self.drifted_features,
            "drift_detected": self.drift_detected,
            "severity": self.severity,
            "duration_s": _clean(self.duration_s),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "report_html": self.report_html,
        }

    def to_document(self) -> dict[str, Any]:
        """The summary stored by ``store.save_report`` (adds the histograms the dashboard plots)."""
        return {**self.summary(), "kind": "drift", "distributions": self.distributions}


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        return _clean(value.item())
    return value
