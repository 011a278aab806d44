"""scripts/dev_dashboard_user.py: the dashboard login `make run` and `make stack` use when DASHBOARD_USERS is unset."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from monitoring.dashboard.auth import BasicAuth, parse_users
from tests.monitoring.factories import basic

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "dev_dashboard_user.py"


def _run(*args: str) -> str:
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_user_is_made_once_private_kept_and_its_hash_lets_it_in(tmp_path: Path) -> None:
    path = tmp_path / "var" / "dev-dashboard-user"
    name, password = _run(str(path)).split()
    assert len(password) >= 20 and path.read_text().split() == [name, password]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _run(str(path)).split() == [name, password]
    users = parse_users(_run("--users", str(path)))
    assert list(users) == [name]
    middleware = BasicAuth(lambda env, start: [], users)
    assert middleware.authenticate(basic(name, password)) == name
    assert middleware.authenticate(basic(name, password + "x")) is None


def test_an_empty_file_gets_a_new_user(tmp_path: Path) -> None:
    path = tmp_path / "dev-dashboard-user"
    path.write_text("\n")
    assert len(_run(str(path)).split()) == 2 and path.read_text().split() == _run(str(path)).split()
