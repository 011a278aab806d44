"""The score handler's own body read: what Starlette's ``Request.body()`` would give, from the ASGI messages."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import ClientDisconnect, Request

from gateway.fastpath import receive_body


def _receiver(messages: list[dict[str, Any]]) -> Any:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    return receive


def _starlette_body(messages: list[dict[str, Any]]) -> bytes:
    scope = {"type": "http", "method": "POST", "path": "/v1/score", "headers": []}
    return asyncio.run(Request(scope, _receiver(messages)).body())


@pytest.mark.parametrize("messages", [
    [{"type": "http.request", "body": b'{"a": 1}'}],
    [{"type": "http.request", "body": b'{"a"', "more_body": True}, {"type": "http.request", "body": b": 1}"}],
    [{"type": "http.request", "body": b"", "more_body": True}, {"type": "http.request", "body": b"{}"}],
    [{"type": "http.request", "body": b"{", "more_body": True},
     {"type": "http.request", "body": b"", "more_body": True},
     {"type": "http.request", "body": b"}"}],
    [{"type": "http.request"}],
])
def test_the_body_is_the_one_starlette_reads(messages: list[dict[str, Any]]) -> None:
    assert asyncio.run(receive_body(_receiver(messages))) == _starlette_body(messages)


def test_a_client_gone_before_the_end_of_its_body_is_a_disconnect() -> None:
    messages = [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}]
    with pytest.raises(ClientDisconnect):
        asyncio.run(receive_body(_receiver(messages)))
    with pytest.raises(ClientDisconnect):
        _starlette_body(messages)
