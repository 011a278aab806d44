"""``python -m gateway``: uvicorn with uvloop and httptools (HOST, PORT, WEB_CONCURRENCY).

uvicorn runs :class:`gateway.server.GatewayHttpProtocol`, its httptools protocol with ``POST /v1/score``
answered as soon as its body is in.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile

import uvicorn

from gateway.logs import QUIET_LOGGERS
from gateway.settings import GatewaySettings
from shared.logs import configure_logging

logger = logging.getLogger("gateway")


def main(argv: list[str] | None = None, app: str = "gateway.app:create_app", prog: str = "python -m gateway") -> int:
    """Parse the command line, check the settings, run uvicorn.

    Args:
        argv: the arguments (``sys.argv[1:]`` when omitted).
        app: the app factory uvicorn imports (``--app`` overrides it).
        prog: the program name in the help.
    """
    parser = argparse.ArgumentParser(prog=prog, description="Run the scoring gateway.")
    parser.add_argument("--host", help="bind address (default: HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: PORT or 8000)")
    parser.add_argument("--workers", type=int, help="uvicorn worker processes (default: WEB_CONCURRENCY or 1)")
    parser.add_argument("--app", default=app, help=f"app factory, module:function (default: {app})")
    args = parser.parse_args(argv)
    try:
        settings = GatewaySettings()
    except ValueError as exc:  # pydantic's ValidationError: name the bad setting, no traceback
        sys.stderr.write(f"gateway: invalid settings:\n{exc}\n")
        return 2
    configure_logging(settings.log_level, settings.pseudonymisation_key, quiet=QUIET_LOGGERS)
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    if settings.embedded and workers > 1:
        # each process would hold its own in-memory queue: a job could not be polled from another process
        logger.warning("embedded mode (no REDIS_URL) runs one worker process; ignoring workers=%d", workers)
        workers = 1
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # set but empty, prometheus_client would still go multi-process and write its files in the cwd
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="gateway-metrics-")
    os.environ["HOST"], os.environ["PORT"] = host, str(port)  # the workers re-read the settings
    if settings.http_server == "granian":
        serve_granian(args.app, host, port, workers)
        return 0
    uvicorn.run(
        args.app, factory=True, host=host, port=port, workers=workers, loop="uvloop",
        http="gateway.server:GatewayHttpProtocol", access_log=False, log_config=None, proxy_headers=False,
        server_header=False,
    )
    return 0


def serve_granian(app: str, host: str, port: int, workers: int) -> None:
    """The same app under granian (HTTP in Rust, the app on uvloop): no access log of its own (the middleware
    writes ours), its own logging kept to warnings, no websockets."""
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    Granian(app, address=host, port=port, interface=Interfaces.ASGI, workers=workers, loop=Loops.uvloop,
            factory=True, websockets=False, log_access=False, log_level=LogLevels.warning).serve()


if __name__ == "__main__":
    sys.exit(main())
