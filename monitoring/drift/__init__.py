"""Data drift of production applications against the training reference.

``DriftCalculator.fit(reference)`` then ``calculate(current) -> DriftResult``;
:func:`monitoring.drift.run.run_drift` wires it to the store and the HTML report.
"""

from monitoring.drift.calculator import DriftCalculator
from monitoring.drift.result import DriftResult, FeatureCheck

__all__ = ["DriftCalculator", "DriftResult", "FeatureCheck"]
