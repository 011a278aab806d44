"""The import rules of the architecture, checked on the source: who may import whom.

- ``shared`` imports none of our packages;
- ``gateway``, ``worker``, ``monitoring`` and ``training`` import only ``shared`` (and themselves);
- nothing imports ``gateway``, ``worker`` or ``embedded`` except ``embedded`` (which wires gateway and
  worker) and the tools outside the product: tests, benchmarks, load tests, scripts, deploy.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"shared", "gateway", "worker", "embedded", "monitoring", "training", "tests", "benchmarks",
        "load_tests", "scripts", "deploy"}
ALLOWED = {
    "shared": {"shared"},
    "gateway": {"shared", "gateway"},
    "worker": {"shared", "worker"},
    "monitoring": {"shared", "monitoring"},
    "training": {"shared", "training"},
    "embedded": {"shared", "gateway", "worker", "embedded"},
    "load_tests": {"shared", "load_tests"},
}


def imported_packages(path: Path) -> set[str]:
    """Top-level packages of ours that a file imports (static and ``importlib`` imports by literal name)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) and (
                    (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                    or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__"))):
            names.add(node.args[0].value)
    return {name.split(".")[0] for name in names} & OURS


def test_the_checker_sees_static_and_importlib_imports(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text("import gateway.app\nfrom worker import tasks\nimportlib.import_module('embedded.app')\n"
                      "import os\nfrom . import sibling\n")
    assert imported_packages(source) == {"gateway", "worker", "embedded"}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_what_the_architecture_allows(package: str) -> None:
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) - ALLOWED[package])
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert {path: names for path, names in wrong.items() if names} == {}
