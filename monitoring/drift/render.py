"""The HTML report rendered in a renderer process that imports Evidently while the run reads and compares.

Importing Evidently's renderer takes seconds (its pydantic models); a one-off
``python -m monitoring drift`` would pay them after the comparison. Instead
:class:`HtmlRenderer` starts ``python -m monitoring.drift.render`` at the
beginning of the run: the renderer imports Evidently on the other core while this
process reads the sample and runs the tests, then receives (pickled) the
result, the plans and the few columns the report plots, and writes the same
file :func:`monitoring.drift.html.write_html` writes in-process.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from monitoring.drift import prepare
from monitoring.drift.calculator import DriftCalculator
from monitoring.drift.result import DriftResult

logger = logging.getLogger("monitoring.drift")

RENDER_TIMEOUT_S = 300.0


def pick_features(result: DriftResult, limit: int) -> list[str]:
    """The features worth a plot: drifted first, then the closest to their threshold (``limit`` of them)."""
    ranked = sorted((c for c in result.checks if c.value is not None and c.test in ("wasserstein", "jensenshannon")),
                    key=lambda c: (not c.drifted, -(c.value or 0) / c.threshold))
    return [c.name for c in ranked[:limit]]


def _slim(calc: DriftCalculator, keep: set[str]) -> DriftCalculator:
    """A copy of ``calc`` whose plans keep their reference values only for ``keep`` (a smaller pickle)."""
    slim = object.__new__(DriftCalculator)
    slim.__dict__.update(calc.__dict__)
    slim.plans = [p if p.name in keep else dataclasses.replace(p, reference=None, prepared=None) for p in calc.plans]
    return slim


class HtmlRenderer:
    """The renderer process; :meth:`render` once, or :meth:`cancel`."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen([sys.executable, "-m", "monitoring.drift.render"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, env={**os.environ, "DO_NOT_TRACK": "1"})

    def render(self, calc: DriftCalculator, frame: pd.DataFrame | prepare.Columns | None, result: DriftResult,
               reports_dir: Path, max_features: int, pseudonymisation_key: str | None = None) -> Path:
        """Have the renderer write the report; returns its path.

        Raises:
            RuntimeError: the renderer failed (its error is on stderr).
        """
        names = pick_features(result, max_features)
        columns = [n for n in [*names, prepare.SCORE] if frame is not None and n in frame.columns]
        subset = None
        if isinstance(frame, prepare.Columns):
            subset = frame.frame(columns)
        elif frame is not None:
            subset = frame[columns]
        payload = (_slim(calc, set(names)), subset, result, reports_dir, max_features, pseudonymisation_key)
        out, _ = self._proc.communicate(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL),
                                        timeout=RENDER_TIMEOUT_S)
        if self._proc.returncode != 0 or not out.strip():
            raise RuntimeError(f"the HTML report renderer failed (exit status {self._proc.returncode})")
        return Path(out.decode().strip().splitlines()[-1])

    def cancel(self) -> None:
        """Stop the renderer without a report."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.communicate()


def _main() -> int:
    from monitoring.drift.html import write_html  # the slow import, done while the parent works
    from shared.pseudonym import Pseudonymiser

    payload: Any = sys.stdin.buffer.read()
    if not payload:
        return 0  # cancelled
    calc, frame, result, reports_dir, max_features, key = pickle.loads(payload)  # noqa: S301 (our parent's data)
    sys.stdout.write(f"{write_html(calc, frame, result, reports_dir, max_features, Pseudonymiser(key))}\n")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
