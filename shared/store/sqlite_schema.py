"""Tables of the SQLite store, and the conversion of an event to a row and back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from shared.event import TIMING_FIELDS
from shared.store.common import to_ms

# Scalar fields of an event, in column order (features and timings apart).
_SCALARS = (
    "event_id", "timestamp", "request_id", "job_id", "path", "model_version", "client_ref", "raw_input",
    "score", "decision", "threshold", "status", "error_type", "error_message", "shadow", "explanation",
)
# Scalar columns holding an object, as JSON text (explanation: NULL unless the request asked for it).
_JSON = ("shadow", "explanation")
_TYPES = {"event_id": "TEXT PRIMARY KEY", "score": "REAL", "threshold": "REAL"}

SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS events (
        ts INTEGER NOT NULL,   -- epoch milliseconds (UTC) of timestamp
        day TEXT NOT NULL,     -- UTC day, YYYY-MM-DD: the unit of retention, as a daily index
        {", ".join(f"{name} {_TYPES.get(name, 'TEXT')}" for name in _SCALARS)},
        {", ".join(f"{name} REAL" for name in TIMING_FIELDS)},
        features TEXT NOT NULL -- JSON object of the raw application fields
    )""",
    "CREATE INDEX IF NOT EXISTS events_ts ON events (ts)",
    "CREATE INDEX IF NOT EXISTS events_status_ts ON events (status, ts)",
    "CREATE INDEX IF NOT EXISTS events_day ON events (day)",
    "CREATE TABLE IF NOT EXISTS drift_reports (report_id TEXT PRIMARY KEY, ts INTEGER NOT NULL, doc TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS drift_reports_ts ON drift_reports (ts)",
    "CREATE TABLE IF NOT EXISTS alerts (alert_id TEXT PRIMARY KEY, ts INTEGER NOT NULL, doc TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS alerts_ts ON alerts (ts)",
    "CREATE TABLE IF NOT EXISTS model_events (model_event_id TEXT PRIMARY KEY, ts INTEGER NOT NULL, doc TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS model_events_ts ON model_events (ts)",
    "CREATE TABLE IF NOT EXISTS audit (audit_id TEXT PRIMARY KEY, ts INTEGER NOT NULL, doc TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS audit_ts ON audit (ts)",
    # erasure and access look clients up by their pseudonym
    "CREATE INDEX IF NOT EXISTS events_client_ref ON events (client_ref)",
    "CREATE TABLE IF NOT EXISTS resources (sample_id TEXT PRIMARY KEY, ts INTEGER NOT NULL, kind TEXT NOT NULL, "
    "doc TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS resources_ts ON resources (ts)",
)

# The columns that rebuild a document, in the order row_to_event reads them.
DOC_COLUMNS = ", ".join((*_SCALARS, *TIMING_FIELDS, "features"))
# All columns in table order, for INSERT.
TABLE_COLUMNS = ", ".join(("ts", "day", *_SCALARS, *TIMING_FIELDS, "features"))


def event_row(doc: Mapping[str, Any], event_id: str, moment: datetime) -> tuple[Any, ...]:
    """The row of one checked event document (columns in ``TABLE_COLUMNS`` order)."""
    timings = doc.get("timings") or {}
    scalars = [doc.get(name) for name in _SCALARS]
    scalars[0] = event_id
    for name in _JSON:
        at = _SCALARS.index(name)
        if scalars[at] is not None:
            scalars[at] = orjson.dumps(scalars[at]).decode()
    features = orjson.dumps(doc.get("features") or {}, option=orjson.OPT_SERIALIZE_NUMPY)
    return (to_ms(moment), moment.date().isoformat(), *scalars,
            *(timings.get(name) for name in TIMING_FIELDS), features)


def row_to_event(row: Sequence[Any]) -> dict[str, Any]:
    """The event document of a row selected with ``DOC_COLUMNS``."""
    n = len(_SCALARS)
    doc = dict(zip(_SCALARS, row[:n], strict=True))
    for name in _JSON:
        if doc[name] is not None:
            doc[name] = orjson.loads(doc[name])
    doc["timings"] = dict(zip(TIMING_FIELDS, row[n:n + len(TIMING_FIELDS)], strict=True))
    doc["features"] = orjson.loads(row[-1])
    return doc


def added_columns(existing: set[str]) -> list[str]:
    """``ALTER TABLE`` statements adding the event columns an older file lacks (new fields are nullable)."""
    return [f"ALTER TABLE events ADD COLUMN {name} {_TYPES.get(name, 'TEXT')}"
            for name in _SCALARS if name not in existing and name != "event_id"]
