"""Every benchmark module imports: a helper removed from benchmarks.common must not break a caller."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import benchmarks

# nannyml_runner runs in NannyML's own virtualenv (its pins conflict with ours)
OWN_VENV = {"__main__", "nannyml_runner"}


@pytest.mark.parametrize("name", sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                                        if m.name not in OWN_VENV))
def test_the_benchmark_module_imports(name: str) -> None:
    importlib.import_module(f"benchmarks.{name}")
