"""The model bundle on disk: a directory written atomically.

Files: ``model.onnx`` (what serving runs), ``model.txt`` (the LightGBM model),
``metadata.json`` (read by ``shared.scorer``: version, encoding state,
threshold, metrics, parity, fairness, importance, ...), ``reference.jsonl.gz``
(training applications with their score, one JSON object per line, for drift
monitoring without pandas) and ``model_card.md`` (the model card, for people).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from shared.bundle import LIGHTGBM_FILE, METADATA_FILE, MODEL_FILE, REFERENCE_FILE, BundleMetadata
from shared.columns import CLIENT_ID

MODEL_CARD_FILE = "model_card.md"
REFERENCE_ROWS = 20_000


def make_version(fingerprint: str, now: datetime | None = None) -> str:
    """Bundle version: ``YYYYMMDD-HHMMSS-<first 8 hex of the data fingerprint>`` (UTC)."""
    moment = now or datetime.now(UTC)
    return f"{moment:%Y%m%d-%H%M%S}-{fingerprint[:8]}"


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shaped the model."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("lightgbm", "onnx", "onnxmltools", "onnxruntime", "numpy", "pandas", "scikit-learn", "mlflow"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    import platform

    out["python"] = platform.python_version()
    return out


def write_reference(path: Path, applications: Sequence[dict[str, Any]], scores: Sequence[float]) -> int:
    """Write the reference sample: one application per line plus its ``score``.

    The client id (``SK_ID_CURR``) is left out: drift compares features, and a
    bundle built from real rows must not carry real client ids into the images.

    Returns:
        The number of lines written.
    """
    with gzip.open(path, "wb", compresslevel=6) as handle:
        for application, score in zip(applications, scores, strict=True):
            # orjson writes NaN as null: a missing value stays missing
            row = {name: value for name, value in application.items() if name != CLIENT_ID}
            handle.write(orjson.dumps({**row, "score": float(score)}, option=orjson.OPT_SERIALIZE_NUMPY))
            handle.write(b"\n")
    return len(applications)


def read_reference(path: str | Path) -> Iterator[dict[str, Any]]:
    """Iterate over the reference sample's applications (with their ``score``)."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def write_metadata(directory: Path, metadata: dict[str, Any]) -> None:
    """Write ``metadata.json`` through :class:`shared.bundle.BundleMetadata` (strict JSON: NaN is refused)."""
    BundleMetadata.model_validate(metadata).write(directory)


def read_metadata(directory: str | Path) -> dict[str, Any]:
    """Read a bundle's ``metadata.json`` through :class:`shared.bundle.BundleMetadata`, as a dict."""
    return BundleMetadata.read(directory).to_dict()


@contextmanager
def staging(output: str | Path) -> Iterator[Path]:
    """A temporary directory beside ``output`` that replaces it on success.

    The bundle is written into the staging directory; on a clean exit the
    previous bundle (if any) is moved aside and the new one renamed into place
    (two renames on the same file system), so readers never see a half-written
    bundle. On an error the staging directory is removed and ``output`` is untouched.
    """
    target = Path(output).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    try:
        yield temp
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    os.chmod(temp, 0o755)
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.rename(target, old / target.name)
    os.rename(temp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def bundle_files() -> tuple[str, ...]:
    """The files every bundle holds."""
    return (MODEL_FILE, LIGHTGBM_FILE, METADATA_FILE, REFERENCE_FILE, MODEL_CARD_FILE)
