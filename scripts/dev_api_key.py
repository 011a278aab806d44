"""The development API key of `make run` and `make stack`: made once, printed on stdout.

Used when ``API_KEYS`` is unset, so that no local mode opens the API without
being told to (``ALLOW_NO_API_KEY=true``). The key lives in ``var/dev-api-key``
(mode 600, git-ignored) and stays the same from one start to the next.

Usage: python scripts/dev_api_key.py [PATH]
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent.parent / "var" / "dev-api-key"


def dev_api_key(path: Path = DEFAULT) -> str:
    """The key kept in ``path``, created (mode 600) when missing or empty."""
    if path.is_file() and (key := path.read_text().strip()):
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


if __name__ == "__main__":
    sys.stdout.write(dev_api_key(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT) + "\n")
