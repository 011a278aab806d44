"""The fitted calculator kept on disk: one key per reference file and settings, a bad file means fitting again."""

from __future__ import annotations

from pathlib import Path

from monitoring.drift import fitcache
from monitoring.drift.calculator import DriftCalculator, DriftConfig


def test_the_key_follows_the_reference_file_and_the_settings(tmp_path: Path) -> None:
    reference = tmp_path / "reference.jsonl.gz"
    reference.write_bytes(b"one")
    first = fitcache.location(tmp_path, reference, DriftConfig())
    assert first is not None and first == fitcache.location(tmp_path, reference, DriftConfig())
    assert first != fitcache.location(tmp_path, reference, DriftConfig(numeric_threshold=0.2))
    reference.write_bytes(b"other content")
    assert first != fitcache.location(tmp_path, reference, DriftConfig())
    assert fitcache.location(tmp_path, tmp_path / "absent.gz", DriftConfig()) is None


def test_a_saved_fit_loads_back_and_a_bad_file_is_ignored(tmp_path: Path,
                                                          fitted_calculator: DriftCalculator) -> None:
    path = tmp_path / "fit" / "k.pickle"
    assert fitcache.load(path) is None
    fitcache.save(path, fitted_calculator)
    loaded = fitcache.load(path)
    assert loaded is not None and [p.name for p in loaded.plans] == [p.name for p in fitted_calculator.plans]
    assert [p.threshold for p in loaded.plans] == [p.threshold for p in fitted_calculator.plans]
    path.write_bytes(b"not a pickle")
    assert fitcache.load(path) is None
