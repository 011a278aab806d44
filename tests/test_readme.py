"""The README says what the code does: its settings table and its make targets are current."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_settings_table_is_generated_from_the_settings_classes() -> None:
    table = subprocess.run(
        [sys.executable, "scripts/settings_table.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert table.strip() in README, "README is stale: paste the output of `python scripts/settings_table.py`"


def test_every_make_target_the_readme_names_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.M))
    named = set(re.findall(r"`make ([a-z-]+)", README))
    assert named and named <= targets, named - targets


def test_every_doc_the_readme_links_exists() -> None:
    for link in re.findall(r"\]\((docs/[^)#]+)\)", README):
        assert (ROOT / link).is_file(), link


def test_no_placeholder_left() -> None:
    assert not re.search(r"\b[A-Z_]+_(SECTION|TABLE)\b", README)
