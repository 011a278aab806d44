"""Coalescing: items that arrive within a few milliseconds are sent together.

An asyncio timer on the gateway's event loop, not a thread (a thread would
compete with the loop for the GIL). The first item of a group starts the
linger; the group is sent when the linger ends or when it reaches its maximum
size, whichever comes first. Items with different keys (options that change
how they are processed) are grouped apart. Each submitter awaits its group's
sending: it learns whether its item was accepted (or why not) before it answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")
Send = Callable[[Hashable, list[T]], Awaitable[None]]


@dataclass
class _Group(Generic[T]):
    items: list[T] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class Coalescer(Generic[T]):
    """Groups items by key and hands each group to ``send`` once.

    Args:
        send: ``await send(key, items)`` sends one group (e.g. one pipelined Redis round trip);
            an exception it raises is raised to every submitter of that group.
        linger_s: how long the first item of a group waits for others (0: only those of the same loop turn).
        max_size: a group is sent as soon as it holds this many items.
        max_linger_s: the longest the linger grows to while the consumers are behind (see :meth:`behind`);
            the linger never grows when it equals ``linger_s``.

    The linger adapts to the consumers: while groups wait for them, each group costs
    the consumer a fixed overhead that larger groups share, so the linger doubles (up
    to ``max_linger_s``) after each group sent behind a backlog, and halves back
    towards ``linger_s`` after each group sent to an idle consumer.
    """

    def __init__(self, send: Send[T], linger_s: float, max_size: int, max_linger_s: float | None = None) -> None:
        if max_size < 1:
            raise ValueError("max_size must be >= 1")
        self.send = send
        self.base_linger_s = self.linger_s = max(0.0, linger_s)
        self.max_linger_s = max(self.base_linger_s, max_linger_s if max_linger_s is not None else linger_s)
        self.max_size = max_size
        self._groups: dict[Hashable, _Group[T]] = {}
        self._sending: set[asyncio.Task[None]] = set()
        self._closed = False

    def behind(self, backlog: bool) -> None:
        """Say whether the consumers were behind when a group was sent: the linger grows, or shrinks back."""
        if backlog:
            self.linger_s = min(self.max_linger_s, max(self.linger_s * 2, self.base_linger_s, 0.001))
        else:
            self.linger_s = max(self.base_linger_s, self.linger_s / 2)

    @property
    def pending(self) -> int:
        """Items waiting for their group to be sent."""
        return sum(len(group.items) for group in self._groups.values())

    async def submit(self, key: Hashable, item: T) -> None:
        """Add ``item`` to the group of ``key`` and wait until that group is sent.

        Raises:
            Exception: whatever ``send`` raised for the group.
        """
        loop = asyncio.get_running_loop()
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group()
        waiter: asyncio.Future[None] = loop.create_future()
        group.items.append(item)
        group.waiters.append(waiter)
        if self._closed or len(group.items) >= self.max_size:
            self._flush(key)
        elif group.timer is None:
            group.timer = (loop.call_later(self.linger_s, self._flush, key) if self.linger_s
                           else loop.call_soon(self._flush, key))  # type: ignore[assignment]
        await asyncio.shield(waiter)  # a client that goes away does not cancel its group

    def _flush(self, key: Hashable) -> None:
        group = self._groups.pop(key, None)
        if group is None:
            return
        if group.timer is not None:
            group.timer.cancel()
        task = asyncio.get_running_loop().create_task(self._send(key, group))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, key: Hashable, group: _Group[T]) -> None:
        error: BaseException | None = None
        try:
            await self.send(key, group.items)
        except BaseException as exc:  # handed to the submitters, who map it to their answer
            error = exc
        for waiter in group.waiters:
            if waiter.done():
                continue
            if error is None:
                waiter.set_result(None)
            elif isinstance(error, asyncio.CancelledError):
                waiter.cancel()
            else:
                waiter.set_exception(error)
        for waiter in group.waiters:  # a submitter that went away must not leave an unread exception
            if waiter.done() and not waiter.cancelled():
                waiter.exception()
        if isinstance(error, asyncio.CancelledError):
            raise error

    async def flush(self) -> None:
        """Send every pending group now and wait for every group being sent."""
        for key in list(self._groups):
            self._flush(key)
        while self._sending:
            await asyncio.gather(*list(self._sending), return_exceptions=True)

    async def close(self) -> None:
        """Flush, and from now on send each item at once (the gateway is stopping: nothing may wait)."""
        self._closed = True
        await self.flush()
