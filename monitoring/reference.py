"""The training reference: the bundle's sample of raw applications with their scores."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from monitoring.exceptions import ReferenceDataError
from shared.bundle import METADATA_FILE, REFERENCE_FILE


@dataclass(frozen=True)
class Reference:
    """Reference rows (raw features + ``score``) and the bundle they come from."""

    rows: list[dict[str, Any]]
    model_version: str | None
    source: str


def load_reference(model_dir: Path | str) -> Reference:
    """Read ``reference.jsonl.gz`` (one JSON application per line) without pandas.

    Args:
        model_dir: the model bundle directory.

    Returns:
        The reference rows and the bundle's model version.

    Raises:
        ReferenceDataError: the file is missing, unreadable or empty.
    """
    bundle = Path(model_dir)
    path = bundle / REFERENCE_FILE
    if not path.is_file():
        raise ReferenceDataError(f"no reference sample at {path}: build the bundle first (make bundle)")
    try:
        with gzip.open(path, "rb") as handle:
            rows = [orjson.loads(line) for line in handle if line.strip()]
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ReferenceDataError(f"cannot read {path}: {exc}") from exc
    if not rows:
        raise ReferenceDataError(f"{path} holds no application")
    version = None
    meta = bundle / METADATA_FILE
    if meta.is_file():
        try:
            version = str(json.loads(meta.read_text()).get("version"))
        except (OSError, ValueError):
            version = None
    return Reference(rows=rows, model_version=version, source=str(path))
