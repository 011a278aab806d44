"""The fitted calculator kept on disk, keyed by the reference file and the drift settings.

Fitting reads the bundle's reference sample (20,000 applications) and
estimates each feature's noise floor from random halves of it: about two
seconds of CPU that give the same calculator every time for the same file and
settings. A one-off ``python -m monitoring drift`` loads it from
``REPORTS_DIR/.drift-fit/<key>.pickle`` instead; the key is a hash of the
reference file's path, size and modification time, the settings, and the
versions of this code's fit, pandas and numpy, so anything that could change the
fit makes a new key. A missing, unreadable or stale file only means fitting again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from monitoring.drift.calculator import DriftCalculator, DriftConfig

logger = logging.getLogger("monitoring.drift")

FIT_VERSION = "2"  # bump when the fit's logic changes
FOLDER = ".drift-fit"
KEEP = 4  # newest cache files kept


def location(reports_dir: Path, reference: Path, config: DriftConfig) -> Path | None:
    """Where the fit of ``reference`` with ``config`` is kept (None when the reference is absent)."""
    try:
        stat = reference.stat()
    except OSError:
        return None
    key = repr((FIT_VERSION, str(reference.resolve()), stat.st_size, stat.st_mtime_ns, sorted(asdict(config).items()),
                pd.__version__, np.__version__))
    return reports_dir / FOLDER / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.pickle"


def load(path: Path) -> DriftCalculator | None:
    """The calculator kept at ``path``, or None."""
    try:
        with path.open("rb") as handle:
            calc = pickle.load(handle)  # noqa: S301 (a file this code wrote in its own reports folder)
    except FileNotFoundError:
        return None
    except Exception as exc:  # truncated, from another version...: fit again
        logger.warning("drift fit cache %s unreadable (%s): fitting again", path, exc)
        return None
    return calc if isinstance(calc, DriftCalculator) and calc.fitted else None


def save(path: Path, calc: DriftCalculator) -> None:
    """Keep ``calc`` at ``path`` (atomically); failures are logged, never raised."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as handle:
            pickle.dump(calc, handle, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
        for old in sorted(path.parent.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("drift fit cache %s not written: %s", path, exc)
