"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.utils.data import build_tiny_bundle


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real model bundle built once per session from 3,000 synthetic rows (no MLflow).

    Holds model.onnx, model.txt, metadata.json and reference.jsonl.gz, like the
    default bundle; load it with ``shared.scorer.Scorer.load``. Read-only: copy it
    before changing anything in it.
    """
    return build_tiny_bundle(tmp_path_factory.mktemp("tiny-bundle") / "bundle")
