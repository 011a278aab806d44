"""``python -m embedded``: the gateway with its in-process worker and indexer (HOST, PORT)."""

from __future__ import annotations

import sys

from gateway.__main__ import main as run_gateway

APP = "embedded.app:create_app"


def main(argv: list[str] | None = None) -> int:
    """Run uvicorn on the embedded-mode app (the gateway's command line)."""
    return run_gateway(argv, app=APP, prog="python -m embedded")


if __name__ == "__main__":
    sys.exit(main())
