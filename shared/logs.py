"""The one logging setup of every service: gateway, worker pool, indexer, retention, monitoring, embedded.

One JSON object per line on stderr: ``ts`` (UTC, milliseconds), ``level``,
``logger``, ``msg``, ``pid``, then the ids of the context the line was logged
in (``request_id`` inside a gateway request, ``job_id`` and its ``request_id``
inside a worker job), then the record's ``extra=`` fields, and ``exc`` (the
traceback) when there is one. A log pipeline parses every process alike.

The ids live in :data:`request_id_var` and :data:`job_id_var`
(``contextvars``): the gateway's middleware sets the request id, the worker sets
both around each job, and every line logged meanwhile, however deep, carries
them; no call site passes them by hand. Each record takes them when it is
created (a record factory, installed when this module is imported), so a line
formatted later (a test's ``caplog``, a queue handler) still holds them.

Client ids never reach a log in clear: the finished line goes through
:class:`shared.pseudonym.Pseudonymiser`, which replaces the value after every
``SK_ID_CURR`` key (in the message, the extra fields or a traceback) by its
keyed pseudonym, or by ``redacted`` when the formatter was built without the key.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

import orjson

from shared.pseudonym import Pseudonymiser

__all__ = ["JsonFormatter", "configure_logging", "job_id_var", "log_context", "request_id_var"]

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
job_id_var: ContextVar[str | None] = ContextVar("job_id", default=None)

# LogRecord attributes that are not user-supplied ``extra`` fields.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime", "taskName"}
)
# Loggers that bring their own (non-JSON) handlers: they propagate to the root's instead.
_OWN_HANDLERS = ("uvicorn", "uvicorn.error", "rq.worker", "rq.job", "rq.scheduler")


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON line: time, level, logger, message, pid, context ids, then ``extra`` fields.

    Args:
        pseudonymisation_key: the ``PSEUDONYMISATION_KEY``, so that a client id in a line becomes the
            pseudonym the stored events carry; None: ids are replaced by ``redacted``.
    """

    def __init__(self, pseudonymisation_key: str | None = None) -> None:
        super().__init__()
        self.pseudonymiser = Pseudonymiser(pseudonymisation_key)

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        request_id, job_id = getattr(record, "_context_ids", None) or (request_id_var.get(), job_id_var.get())
        if request_id is not None:
            payload["request_id"] = request_id
        if job_id is not None:
            payload["job_id"] = job_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        line = orjson.dumps(payload, default=str, option=orjson.OPT_SERIALIZE_NUMPY).decode()
        return self.pseudonymiser.text(line)


@contextmanager
def log_context(request_id: str | None = None, job_id: str | None = None) -> Iterator[None]:
    """Within the block, every log line carries these ids (the previous ones come back after it).

    Args:
        request_id: the request's id (a job's: the id of the request that submitted it).
        job_id: the job's id.
    """
    request_token = request_id_var.set(request_id)
    job_token = job_id_var.set(job_id)
    try:
        yield
    finally:
        job_id_var.reset(job_token)
        request_id_var.reset(request_token)


def configure_logging(level: str, pseudonymisation_key: str | None = None, quiet: Iterable[str] = ()) -> None:
    """Send every logger (ours and the libraries') through one JSON handler on stderr.

    Idempotent: calling it again only changes the levels (and the key).

    Args:
        level: the root level (``LOG_LEVEL``).
        pseudonymisation_key: client ids in a line become their pseudonym (``redacted`` without a key).
        quiet: chatty libraries' loggers kept at WARNING unless ``level`` is DEBUG.
    """
    root = logging.getLogger()
    root.setLevel(level.upper())
    ours = [handler for handler in root.handlers if isinstance(handler, _StderrHandler)]
    if not ours:
        ours = [_StderrHandler()]
        root.addHandler(ours[0])
    for handler in ours:
        handler.setFormatter(JsonFormatter(pseudonymisation_key))
    for name in _OWN_HANDLERS:  # their own handlers would print a second, non-JSON line
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # The gateway's middleware writes the access line (JSON, with the request id and the route). uvicorn
    # logs its own whenever "uvicorn.access" has a handler, even when run with access_log=False:
    # propagating it to the root gave two lines per request (and about 5 % of a request's CPU).
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING if root.level > logging.DEBUG else logging.NOTSET)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler on whatever ``sys.stderr`` is when a line is written (a test may swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def _with_context_ids(factory: Any) -> Any:
    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record._context_ids = (request_id_var.get(), job_id_var.get())
        return record

    make_record.context_ids = True  # type: ignore[attr-defined]
    return make_record


def _iso(created: float) -> str:
    seconds = time.gmtime(created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", seconds) + f".{int(created % 1 * 1000):03d}Z"


if not getattr(logging.getLogRecordFactory(), "context_ids", False):
    logging.setLogRecordFactory(_with_context_ids(logging.getLogRecordFactory()))
