"""The repository speaks to the people who run the platform: no work log in its text."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What a work log says and a product manual does not.
WORK_LOG = re.compile(
    r"\bissues? ?#?\d+\b|\bengineers?\b|\bthe lead\b|\bteammates?\b|\bgrading\b|\bthis stop\b"
    r"|\breviewers?\b",
    re.IGNORECASE,
)
SUFFIXES = {".md", ".py", ".sh", ".yaml", ".yml", ".toml", ".txt", ".cfg"}


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    here = Path(__file__).resolve()
    files = [ROOT / name for name in listed.splitlines()]
    return [p for p in files if p.suffix in SUFFIXES and p.is_file() and p.resolve() != here]


def test_no_work_log_in_the_repository_text() -> None:
    found = []
    for path in _tracked_text_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if WORK_LOG.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not found, "\n".join(found)
