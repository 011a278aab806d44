"""The development dashboard user of `make run` and `make stack`: made once, printed on stdout.

Used when ``DASHBOARD_USERS`` is unset, so that no local mode serves the
dashboard without a login unless told to (``ALLOW_OPEN_DASHBOARD=true``). The
name and password live in ``var/dev-dashboard-user`` (one line ``NAME PASSWORD``,
mode 600, git-ignored) and stay the same from one start to the next; the
bcrypt hash the dashboard checks is made from them at each start.

Usage:
    python scripts/dev_dashboard_user.py [PATH]           prints ``NAME PASSWORD``
    python scripts/dev_dashboard_user.py --users [PATH]   prints ``NAME:BCRYPT-HASH`` (a DASHBOARD_USERS value)
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent.parent / "var" / "dev-dashboard-user"
NAME = "dev"


def dev_dashboard_user(path: Path = DEFAULT) -> tuple[str, str]:
    """(name, password) kept in ``path``, created (mode 600) when missing or unreadable."""
    if path.is_file():
        parts = path.read_text().split()
        if len(parts) == 2:
            return parts[0], parts[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(18)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{NAME} {password}\n")
    return NAME, password


def users_entry(name: str, password: str) -> str:
    """``name:bcrypt-hash``, one ``DASHBOARD_USERS`` entry."""
    import bcrypt

    return f"{name}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()}"


def main(argv: list[str]) -> int:
    """Print the user (or its DASHBOARD_USERS entry with ``--users``)."""
    users = "--users" in argv
    rest = [a for a in argv if a != "--users"]
    name, password = dev_dashboard_user(Path(rest[0]) if rest else DEFAULT)
    sys.stdout.write((users_entry(name, password) if users else f"{name} {password}") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
