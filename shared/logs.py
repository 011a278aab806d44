"""The one JSON log line format of every service: gateway, worker, indexer, monitoring.

One object per line on stderr: ``ts`` (UTC, milliseconds), ``level``,
``logger``, ``msg``, ``pid``, then the record's ``extra=`` fields, and ``exc``
(the traceback) when there is one. A log pipeline parses every process alike.

Client ids never reach a log in clear: the finished line goes through
:class:`shared.pseudonym.Pseudonymiser`, which replaces the value after every
``SK_ID_CURR`` key (in the message, the extra fields or a traceback) by its
keyed pseudonym, or by ``redacted`` when the formatter was built without the key.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from shared.pseudonym import Pseudonymiser

# LogRecord attributes that are not user-supplied ``extra`` fields.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON line: time, level, logger, message, pid, then the ``extra`` fields.

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
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        line = orjson.dumps(payload, default=str, option=orjson.OPT_SERIALIZE_NUMPY).decode()
        return self.pseudonymiser.text(line)


def _iso(created: float) -> str:
    seconds = time.gmtime(created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", seconds) + f".{int(created % 1 * 1000):03d}Z"
