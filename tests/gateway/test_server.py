"""The HTTP protocol's direct score path against uvicorn's own, on real sockets.

Two gateways run under uvicorn in this process: one with :class:`gateway.server.GatewayHttpProtocol`,
one with uvicorn's stock httptools protocol. Every request here goes to both, and the answers must be
the same bytes but for what is new on every request (date, request and event ids, timings).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn

from embedded.app import create_app
from gateway.server import GatewayHttpProtocol
from gateway.settings import GatewaySettings
from shared.logs import request_id_var
from shared.schema import example_application
from tests.gateway.conftest import API_KEYS

MAX_BODY = 64 * 1024
VOLATILE_HEADERS = {b"date", b"x-request-id", b"content-length"}
VOLATILE_FIELDS = {"request_id", "event_id", "timings"}


class CountingProtocol(GatewayHttpProtocol):
    """The gateway's protocol, counting the requests it answered directly."""

    answered: list[int] = []

    def _answer(self, direct: Any) -> None:
        CountingProtocol.answered.append(1)
        super()._answer(direct)


class Server:
    """A uvicorn server in a thread, on its own socket."""

    def __init__(self, app: Any, http: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, loop="uvloop", http=http, access_log=False, log_config=None,  # as __main__
                                proxy_headers=False, server_header=False, lifespan="on", timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def connect(self) -> socket.socket:
        conn = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return conn


@pytest.fixture
def servers(gateway_settings: Callable[..., GatewaySettings], tmp_path: Path) -> Iterator[dict[str, Server]]:
    """The direct protocol and uvicorn's, each over its own embedded gateway (access log on)."""
    made: dict[str, Server] = {}
    for name, http in (("direct", CountingProtocol), ("stock", "httptools")):
        folder = tmp_path / name
        settings = gateway_settings(access_log=True, access_log_sample=1.0, max_body_bytes=MAX_BODY,
                                    spool_dir=folder / "spool", sqlite_path=folder / "events.sqlite3")
        made[name] = Server(create_app(settings), http)
    CountingProtocol.answered.clear()
    yield made
    for server in made.values():
        server.stop()


def read_answer(conn: socket.socket, buffer: bytearray) -> tuple[bytes, list[tuple[bytes, bytes]], bytes]:
    """One answer off the connection: (status line, headers, body); ``buffer`` keeps what follows it."""
    while b"\r\n\r\n" not in buffer or buffer.startswith(b"HTTP/1.1 100 "):
        if buffer.startswith(b"HTTP/1.1 100 ") and b"\r\n\r\n" in buffer:  # an interim answer: the next one
            del buffer[:buffer.index(b"\r\n\r\n") + 4]
            continue
        chunk = conn.recv(65536)
        assert chunk, f"the connection closed before an answer: {bytes(buffer)!r}"
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = [(name, value) for name, _, value in (line.partition(b": ") for line in lines)]
    length = int(dict(headers)[b"content-length"])
    while len(rest) < length:
        chunk = conn.recv(65536)
        assert chunk, "the connection closed inside a body"
        rest += chunk
    buffer[:] = rest[length:]
    return status, headers, rest[:length]


def exchange(server: Server, requests: list[bytes], answers: int | None = None, pause_after: int | None = None,
             ) -> tuple[list[tuple[bytes, list[tuple[bytes, bytes]], bytes]], bool]:
    """Send the requests' bytes at once (pipelined), read the answers; and whether the server then closed.

    ``pause_after``: send that many bytes first, then the rest 0.2 s later (a body in two pieces).
    """
    conn = server.connect()
    data = b"".join(requests)
    if pause_after is None:
        conn.sendall(data)
    else:
        conn.sendall(data[:pause_after])
        time.sleep(0.2)
        conn.sendall(data[pause_after:])
    buffer = bytearray()
    got = [read_answer(conn, buffer) for _ in range(answers if answers is not None else len(requests))]
    conn.settimeout(0.5)
    try:
        closed = conn.recv(1) == b""
    except TimeoutError:
        closed = False
    conn.close()
    return got, closed


def request(body: bytes, target: bytes = b"/v1/score", method: bytes = b"POST", version: bytes = b"1.1",
            headers: dict[bytes, bytes] | None = None) -> bytes:
    """The bytes of one request (the test key, ``Content-Length``; ``headers`` added or overriding)."""
    fields = {b"host": b"test", b"x-api-key": API_KEYS[0].encode(), b"content-type": b"application/json",
              b"content-length": str(len(body)).encode()}
    fields.update(headers or {})
    lines = b"".join(name + b": " + value + b"\r\n" for name, value in fields.items() if value is not None)
    return method + b" " + target + b" HTTP/" + version + b"\r\n" + lines + b"\r\n" + body


def comparable(answer: tuple[bytes, list[tuple[bytes, bytes]], bytes]) -> tuple[Any, ...]:
    """An answer without what is new on every request."""
    status, headers, body = answer
    names = [name for name, _ in headers]
    values = [(name, value) for name, value in headers if name not in VOLATILE_HEADERS]
    data = orjson.loads(body)
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in VOLATILE_FIELDS}
    return status, names, values, data


@pytest.fixture
def bodies() -> dict[str, bytes]:
    """A valid application, an invalid one and a malformed body."""
    application = example_application()
    return {"valid": orjson.dumps(application), "invalid": orjson.dumps({**application, "AMT_CREDIT": -5}),
            "malformed": b'{"SK_ID_CURR": 1,'}


CASES: dict[str, tuple[Callable[[dict[str, bytes]], list[bytes]], int]] = {
    # name: (the requests, how many of them take the direct path)
    "valid": (lambda b: [request(b["valid"])], 1),
    "invalid": (lambda b: [request(b["invalid"])], 1),
    "malformed": (lambda b: [request(b["malformed"])], 1),
    "incoming request id": (lambda b: [request(b["valid"], headers={b"x-request-id": b"client-id-1"})], 1),
    "keep-alive, pipelined": (lambda b: [request(b["valid"]), request(b["invalid"]), request(b["valid"])], 3),
    "http/1.0": (lambda b: [request(b["valid"], version=b"1.0")], 1),
    "connection close": (lambda b: [request(b["valid"], headers={b"connection": b"close"})], 1),
    "no key": (lambda b: [request(b["valid"], headers={b"x-api-key": None})], 0),
    "wrong key": (lambda b: [request(b["valid"], headers={b"x-api-key": b"nope"})], 0),
    "query string": (lambda b: [request(b["valid"], target=b"/v1/score?explain=false")], 0),
    "other method": (lambda b: [request(b"", method=b"PUT")], 0),
    "body over the limit": (lambda b: [request(b["valid"] + b" " * MAX_BODY)], 0),
    "expect 100-continue": (lambda b: [request(b["valid"], headers={b"expect": b"100-continue"})], 0),
    "another route, then a score": (lambda b: [request(b"", target=b"/health", method=b"GET"),
                                               request(b["valid"])], 0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_direct_answers_are_uvicorns(servers: dict[str, Server], bodies: dict[str, bytes], case: str) -> None:
    make, direct_count = CASES[case]
    requests = make(bodies)
    direct, direct_closed = exchange(servers["direct"], requests)
    stock, stock_closed = exchange(servers["stock"], requests)
    assert [comparable(a) for a in direct] == [comparable(a) for a in stock]
    assert [[name for name, _ in a[1]] for a in direct] == [[name for name, _ in a[1]] for a in stock]
    assert direct_closed == stock_closed
    assert len(CountingProtocol.answered) == direct_count


class AccessLines(logging.Handler):
    """The access lines, each with the request id in the logging context when it was written."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[str | None, int, str]] = []
        self.durations: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((request_id_var.get(), record.status, record.route))  # type: ignore[attr-defined]
        self.durations.append(record.duration_ms)  # type: ignore[attr-defined]


def test_a_body_in_two_pieces_is_answered_directly_and_timed_from_its_headers(
        servers: dict[str, Server], bodies: dict[str, bytes]) -> None:
    one = request(bodies["valid"])
    access = logging.getLogger("gateway.access")
    capture, level = AccessLines(), access.level
    access.addHandler(capture)
    access.setLevel(logging.INFO)
    try:
        (answer,), _ = exchange(servers["direct"], [one], pause_after=len(one) - 100)  # 0.2 s between the pieces
    finally:
        access.removeHandler(capture)
        access.setLevel(level)
    assert answer[0] == b"HTTP/1.1 200 OK"
    assert orjson.loads(answer[2])["decision"] in ("approved", "refused")
    assert CountingProtocol.answered == [1]
    assert [ms >= 200.0 for ms in capture.durations] == [True]  # as the middleware times it: the body's wait included


def test_a_direct_answer_keeps_the_request_id_events_metrics_and_access_line(
        servers: dict[str, Server], bodies: dict[str, bytes]) -> None:
    server = servers["direct"]
    access = logging.getLogger("gateway.access")
    capture, level = AccessLines(), access.level
    access.addHandler(capture)
    access.setLevel(logging.INFO)
    try:
        answers, _ = exchange(server, [request(bodies["valid"], headers={b"x-request-id": b"client-id-7"}),
                                       request(bodies["invalid"])])
    finally:
        access.removeHandler(capture)
        access.setLevel(level)
    ids = [dict(a[1])[b"x-request-id"].decode() for a in answers]
    assert ids[0] == "client-id-7"
    assert [orjson.loads(a[2])["request_id"] for a in answers] == ids
    assert capture.lines == [(ids[0], 200, "/v1/score"), (ids[1], 422, "/v1/score")]
    resources = server.server.config.loaded_app.state.resources
    assert resources.publisher.flush(5.0)
    stored = [orjson.loads(fields[b"event"]) for _, fields in resources.redis.xrange(resources.settings.events_stream)]
    assert [(e["request_id"], e["status"]) for e in stored] == [(ids[0], "ok"), (ids[1], "invalid")]
    assert stored[0]["event_id"] == orjson.loads(answers[0][2])["event_id"]
    requests = resources.metrics.requests.labels("/v1/score", "POST", "200")
    resources.metrics.flush()
    assert requests._value.get() == 1
    assert CountingProtocol.answered == [1, 1]


def test_shutdown_waits_for_a_direct_request_being_read(servers: dict[str, Server], bodies: dict[str, bytes]) -> None:
    server = servers["direct"]
    one = request(bodies["valid"])
    conn = server.connect()
    conn.sendall(one[:-10])
    time.sleep(0.2)
    server.server.should_exit = True  # the server starts shutting down with the request half read
    time.sleep(0.5)
    conn.sendall(one[-10:])
    buffer = bytearray()
    status, headers, _ = read_answer(conn, buffer)
    assert status == b"HTTP/1.1 200 OK"
    assert (b"connection", b"close") in headers
    conn.settimeout(5)
    assert conn.recv(1) == b""  # then closed
    conn.close()
    server.thread.join(10)
    assert not server.thread.is_alive()


def test_the_protocol_is_the_one_python_m_gateway_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway import __main__ as entry

    seen: dict[str, Any] = {}
    monkeypatch.setenv("ALLOW_NO_API_KEY", "true")
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("HTTP_SERVER", "uvicorn")
    for name in ("HOST", "PORT", "PROMETHEUS_MULTIPROC_DIR"):  # main() sets them for its workers: restored after
        was = os.environ.get(name)
        monkeypatch.setenv(name, was or "unset")  # recorded: put back (or removed) at teardown
        if was is None:
            monkeypatch.delenv(name)
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    assert entry.main(["--port", "1"]) == 0
    assert seen["http"] == "gateway.server:GatewayHttpProtocol"
    assert uvicorn.importer.import_from_string(seen["http"]) is GatewayHttpProtocol

