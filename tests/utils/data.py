"""Data factories shared by the test suites: synthetic applications and tiny bundles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd


def synthetic_applications(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` API-ready applications (SK_ID_CURR + the 120 features, None = missing, no TARGET).

    Drawn by the training package's generator, so they look like real rows
    (365243 for pensioners, building statistics missing together, ...) and
    each validates with ``shared.schema.LoanApplication``.
    """
    from training.synthetic import generate_applications

    return generate_applications(n, seed=seed)


def synthetic_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` rows in the ``application_train.csv`` format (122 columns, TARGET included)."""
    from training.synthetic import generate

    return generate(n, seed=seed)


def build_tiny_bundle(output: Path, rows: int = 3_000, seed: int = 0) -> Path:
    """A real bundle (LightGBM, ONNX, threshold, reference) from ``rows`` synthetic rows, without MLflow.

    Takes a few seconds; the session fixture ``tiny_bundle`` builds one per test run.
    """
    from training.pipeline import BuildConfig, build

    build(BuildConfig(output=output, rows=rows, seed=seed, mlflow=False, reference_rows=rows, parity_rows=10_000))
    return output
