"""scripts/dev_api_key.py: the key `make run` and `make stack` use when API_KEYS is unset."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "dev_api_key.py"


def _key(path: Path) -> str:
    done = subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_key_is_made_once_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "var" / "dev-api-key"
    first = _key(path)
    assert len(first) >= 32 and first == path.read_text().strip()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _key(path) == first


def test_an_empty_file_gets_a_new_key(tmp_path: Path) -> None:
    path = tmp_path / "dev-api-key"
    path.write_text("\n")
    assert _key(path) and path.read_text().strip() == _key(path)
