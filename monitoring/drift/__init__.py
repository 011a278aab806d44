"""Data drift of production applications against the training reference.

``calculator.DriftCalculator.fit(reference)`` then ``calculate(current) -> DriftResult``;
``run.DriftJob`` wires it to the store and the HTML report. Nothing is imported
here: Evidently takes seconds to import, and the anomaly checks share
``checks`` without needing it.
"""
