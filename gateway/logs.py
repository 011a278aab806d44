"""The gateway's loggers and its access line; the setup is :func:`shared.logs.configure_logging`, shared by every
service."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from typing import Any

import orjson

from shared.logs import JsonFormatter, job_id_var, request_id_var

__all__ = ["ACCESS_LOGGER", "QUIET_LOGGERS", "AccessLog"]

ACCESS_LOGGER = "gateway.access"
# RQ logs several INFO lines per job: the embedded worker keeps warnings only
QUIET_LOGGERS = ("rq.worker", "rq.job", "rq.scheduler")


class AccessLog:
    """The access line of every request, serialised once and written straight to the log stream.

    A ``logging`` call costs a ``LogRecord``, the handler's lock and the formatter's walk over
    the record's attributes: several times the line itself. When the lines would only reach
    the JSON stream handlers :func:`configure_logging` installs (the case in production), this
    writes the very line :class:`JsonFormatter` would (same keys, same order) with one
    ``orjson.dumps``; when anything else listens (a test's capture handler, a filter, another
    handler), it logs through ``logging`` as before. The level of ``gateway.access`` is obeyed.
    On an event loop the lines of the requests answered in one loop iteration are written
    together when it ends (one system call instead of one per request, each line whole, at most
    that iteration late).
    """

    def __init__(self) -> None:
        self._logger = logging.getLogger(ACCESS_LOGGER)
        self._fingerprint: tuple[Any, ...] = ()
        self._handlers: list[logging.StreamHandler[Any]] | None = None
        self._pid = os.getpid()
        self._second = -1
        self._prefix = ""
        self._pending: list[str] = []  # lines of this event-loop iteration, written together at its end
        self._pending_to: list[logging.StreamHandler[Any]] | None = None  # the handlers they go to
        self._loop: Any = None  # the event loop last found running, and its thread
        self._loop_thread = 0

    def write(self, fields: dict[str, Any]) -> None:
        """Write one ``request`` line with ``fields`` (request id, method, route, path, status, duration)."""
        logger = self._logger
        if not logger.isEnabledFor(logging.INFO):
            return
        handlers = self._direct_handlers()
        if handlers is None:
            logger.info("request", extra=fields)
            return
        now = time.time()
        payload: dict[str, Any] = {"ts": self._timestamp(now), "level": "INFO", "logger": ACCESS_LOGGER,
                                   "msg": "request", "pid": self._pid}
        request_id, job_id = request_id_var.get(), job_id_var.get()  # as JsonFormatter adds them
        if request_id is not None:
            payload["request_id"] = request_id
        if job_id is not None:
            payload["job_id"] = job_id
        payload.update(fields)
        line = orjson.dumps(payload, default=str).decode() + "\n"
        loop = self._running_loop()
        if loop is None:
            self._write(handlers, line)
            return
        # On the event loop, the lines of one loop iteration (the requests answered in it) go to the
        # stream in one write at its end: one system call for several requests, each line whole.
        if self._pending and handlers is not self._pending_to:  # the handlers changed meanwhile
            self.flush()
        pending = self._pending
        pending.append(line)
        if len(pending) == 1:
            self._pending_to = handlers
            loop.call_soon(self.flush)

    def _running_loop(self) -> Any:
        """The event loop running on this thread, or None.

        The loop found last is taken again while it runs on this thread: a thread runs one loop
        at a time, so it is the running one. ``asyncio._get_running_loop()`` makes a ``getpid``
        system call on every call on Python 3.11 (about 2 % of a request's CPU on the live server).
        """
        loop, thread = self._loop, threading.get_ident()
        if loop is not None and self._loop_thread == thread and loop.is_running():
            return loop
        loop = asyncio._get_running_loop()
        if loop is not None:
            self._loop, self._loop_thread = loop, thread
        return loop

    def flush(self) -> None:
        """Write the lines waiting for the end of the event loop's iteration."""
        lines, self._pending = self._pending, []
        if lines and self._pending_to is not None:
            self._write(self._pending_to, "".join(lines))

    @staticmethod
    def _write(handlers: list[logging.StreamHandler[Any]], lines: str) -> None:
        for handler in handlers:
            text = lines
            if "SK_ID_CURR" in text:  # as the formatter does: a client id never reaches a log in clear
                text = handler.formatter.pseudonymiser.text(lines)  # type: ignore[union-attr]
            handler.acquire()  # the lock logging takes too: lines of other threads never interleave
            try:
                handler.stream.write(text)
            except (OSError, ValueError):  # a closed stream must not fail the request
                pass
            finally:
                handler.release()

    def _timestamp(self, now: float) -> str:
        second = int(now)
        if second != self._second:  # the date part changes once a second
            self._second, self._prefix = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        return self._prefix + f".{int(now % 1 * 1000):03d}Z"

    def _direct_handlers(self) -> list[logging.StreamHandler[Any]] | None:
        """The handlers whose streams to write to directly, or None when the line must go through ``logging``."""
        chain, logger = [], self._logger
        while logger is not None:  # the loggers the record would pass through
            chain.append(logger)
            logger = logger.parent if logger.propagate else None  # type: ignore[assignment]
        fingerprint = tuple((id(lg), lg.propagate, tuple(lg.handlers), tuple(lg.filters)) for lg in chain)
        if fingerprint != self._fingerprint:
            self._fingerprint, self._handlers = fingerprint, _json_handlers(chain)
        return self._handlers


def _json_handlers(chain: list[logging.Logger]) -> list[logging.StreamHandler[Any]] | None:
    """``chain``'s handlers when all are plain JSON stream handlers at INFO or below, else None."""
    handlers: list[logging.StreamHandler[Any]] = []
    for logger in chain:
        if logger.filters:
            return None
        for handler in logger.handlers:
            # a stream handler that writes format(record) + "\n" to its stream, as logging's own does
            if (not isinstance(handler, logging.StreamHandler) or type(handler).emit is not logging.StreamHandler.emit
                    or type(handler).format is not logging.Handler.format or handler.terminator != "\n"
                    or type(handler.formatter) is not JsonFormatter or handler.filters
                    or handler.level > logging.INFO):
                return None
            handlers.append(handler)
    return handlers or None
