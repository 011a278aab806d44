"""Run the dashboard's WSGI app in a background thread (tests, screenshot script, embedded mode)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server


@dataclass
class RunningServer:
    """A WSGI server in a daemon thread; ``url`` is where it answers."""

    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash."""
        return f"http://{self.server.host}:{self.server.server_port}"

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def serve_in_thread(wsgi_app: Any, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve ``wsgi_app`` (``dash_app.server``) on ``host:port`` (0 = a free port) until ``stop()``."""
    server = make_server(host, port, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="dashboard-server", daemon=True)
    thread.start()
    return RunningServer(server, thread)
