"""uvicorn's httptools protocol, with ``POST /v1/score`` answered as soon as its body is in.

Under uvicorn every request becomes an asyncio task running the ASGI app: a request
cycle object, an ``asyncio.Event``, the task, the app's coroutines, the ASGI messages
and uvicorn's checks of every response header against two regular expressions. For a
score the app needs none of it: once the body is in, scoring it never waits. A request
that takes the direct path is answered in the parser's ``on_message_complete`` callback:
the same request id, key check, scoring, errors, metrics and access line as
:class:`gateway.middleware.RequestContextMiddleware` and :class:`gateway.fastpath.ScoreEndpoint`
give it (they are called here), and the same bytes on the wire as uvicorn would send
for their answer, head and body in one write.

A request takes the direct path only when all of these hold; any other goes to the app
as usual, under uvicorn's own request cycle:

* ``POST`` to exactly ``/v1/score`` (no query string: ``explain`` takes the app's path),
  with no root path, the app's direct score path on and a model loaded;
* a ``Content-Length`` within the body limit, no ``Expect: 100-continue``, no upgrade;
* an accepted ``X-API-Key`` (a refusal's 401 comes from the middleware);
* no earlier request of the connection still being answered, and the connection's
  writes not paused (a client that does not read its answers is slowed down by uvicorn).

``python -m gateway`` runs uvicorn with it (``http=``); under any other server the app
answers every request itself.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from gateway.fastpath import SCORE_PATH, answer
from gateway.middleware import REQUEST_ID_HEADER, RequestContextMiddleware, internal_error, json_answer, read_headers
from shared.event import new_id
from shared.logs import request_id_var

__all__ = ["GatewayHttpProtocol"]

_URL = SCORE_PATH.encode()
_errors = logging.getLogger("gateway.errors")


class _DirectScore:
    """A request on the direct path, between its headers and the end of its body (``start``: its headers' end, as
    the middleware's timing starts before the body is read)."""

    __slots__ = ("body", "incoming_id", "keep_alive", "scoring", "stack", "start")

    def __init__(self, stack: RequestContextMiddleware, scoring: Any, incoming_id: str | None,
                 keep_alive: bool) -> None:
        self.start = time.perf_counter()
        self.stack = stack
        self.scoring = scoring
        self.incoming_id = incoming_id
        self.keep_alive = keep_alive
        self.body: list[bytes] = []


class GatewayHttpProtocol(HttpToolsProtocol):
    """uvicorn's ``HttpToolsProtocol``; a score that qualifies is answered in the parser's callbacks."""

    _direct: _DirectScore | None = None
    _close_after: bool = False  # the server is shutting down: close once the direct answer is sent
    _stack: RequestContextMiddleware | None = None  # the app's request middleware and resources, once found
    _resources: Any = None

    def on_message_begin(self) -> None:
        """A new request: no keep-alive timeout while it is read (a direct answer may have armed one).

        uvicorn's request scope is built in :meth:`on_headers_complete`, for the requests that go to the app.
        """
        self._direct = None
        self._unset_keepalive_if_required()
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def on_headers_complete(self) -> None:
        """Take the direct path when the request qualifies (see the module docstring), else uvicorn's."""
        direct = self._direct_score() if self.url == _URL else None
        if direct is None:
            url, headers, expect_100_continue = self.url, self.headers, self.expect_100_continue
            super().on_message_begin()  # the scope, as uvicorn builds it when a request begins
            self.url, self.expect_100_continue = url, expect_100_continue
            self.headers = self.scope["headers"] = headers
            super().on_headers_complete()
            return
        self._direct = direct

    def on_body(self, body: bytes) -> None:
        """Keep a direct request's body; anything else goes to uvicorn's request cycle."""
        direct = self._direct
        if direct is None:
            super().on_body(body)
            return
        direct.body.append(body)

    def on_message_complete(self) -> None:
        """Answer a direct request now; anything else goes to uvicorn's request cycle."""
        direct = self._direct
        if direct is None:
            super().on_message_complete()
            return
        self._direct = None
        self._answer(direct)

    def shutdown(self) -> None:
        """The server stops: a direct request being read is answered first, then the connection closes."""
        if self._direct is not None:
            self._close_after = True
            return
        super().shutdown()

    def _direct_score(self) -> _DirectScore | None:
        """The direct request's state when this request qualifies, else None."""
        if (self.parser.get_method() != b"POST" or self.root_path or self.expect_100_continue
                or self.limit_concurrency is not None or self.flow.write_paused or self.pipeline
                or (self.cycle is not None and not self.cycle.response_complete) or self.parser.should_upgrade()):
            return None
        stack, resources = self._stack, self._resources
        if stack is None or resources is None:  # until the app has built its stack and its resources
            stack = getattr(self.app, "score_stack", None)
            resources = getattr(getattr(self.app, "state", None), "resources", None)
            if not isinstance(stack, RequestContextMiddleware) or resources is None:
                return None
            self._stack, self._resources = stack, resources
        scoring = resources.scoring
        incoming_id, api_key, declared = read_headers(self.headers)
        if (scoring is None or declared is None or declared > stack.max_body_bytes
                or stack.key_refusal(SCORE_PATH, api_key) is not None):
            return None
        keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
        return _DirectScore(stack, scoring, incoming_id, keep_alive)

    def _answer(self, direct: _DirectScore) -> None:
        """Score the body, write the answer (head and body at once), count it and log it."""
        request_id = direct.incoming_id or new_id()
        context = request_id_var.set(request_id)  # every line logged in this request carries it
        status = 500
        try:
            body = direct.body[0] if len(direct.body) == 1 else b"".join(direct.body)
            status, headers, payload = answer(direct.scoring, body, request_id, False)
        except Exception:  # as the middleware answers what nothing else caught
            _errors.exception("unhandled error", extra={"path": SCORE_PATH})
            status = 500
            headers, payload = json_answer(internal_error(request_id))
        try:
            self._write(status, headers, payload, request_id, direct)
        finally:
            direct.stack.record("POST", SCORE_PATH, SCORE_PATH, status, time.perf_counter() - direct.start)
            request_id_var.reset(context)

    def _write(self, status: int, headers: list[tuple[bytes, bytes]], payload: bytes, request_id: str,
               direct: _DirectScore) -> None:
        """The answer's bytes as uvicorn sends them (its default headers first), then the connection's next step."""
        if self.transport.is_closing():
            return
        keep_alive = direct.keep_alive and not self._close_after
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content += (name, b": ", value, b"\r\n")
        for name, value in headers:
            content += (name, b": ", value, b"\r\n")
        content += (REQUEST_ID_HEADER, b": ", request_id.encode(), b"\r\n")
        if not keep_alive:
            content.append(b"connection: close\r\n")
        content += (b"\r\n", payload)
        self.transport.write(b"".join(content))
        self.server_state.total_requests += 1
        if not keep_alive:
            self.transport.close()
        else:  # as uvicorn does when a response is complete and nothing is pipelined
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive,
                                                                self.timeout_keep_alive_handler)
