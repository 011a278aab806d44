"""The outcome side of the SQLite store: an ``outcomes`` table and a ``performance_reports`` table.

An upsert reads the stored outcomes and writes the new and changed ones in one
``BEGIN IMMEDIATE`` transaction, so two concurrent requests cannot both count
one outcome as accepted, and a failed write stores nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import orjson

from shared.store import common
from shared.store.base import TimeWindow
from shared.store.mapping import DocumentError
from shared.store.outcome_base import MATCHED, OUTCOME_FIELDS, PENDING, OutcomeStore, OutcomeWrite, same_outcome
from shared.store.outcome_docs import check_outcome

_TYPES = {"outcome_id": "TEXT PRIMARY KEY", "score": "REAL", "threshold": "REAL", "defaulted": "INTEGER NOT NULL"}
OUTCOME_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS outcomes (
        ts INTEGER,                  -- epoch ms of the scored event's timestamp (matched outcomes)
        received_ts INTEGER NOT NULL, -- epoch ms of received_at
        {", ".join(f"{name} {_TYPES.get(name, 'TEXT')}" for name in OUTCOME_FIELDS)}
    )""",
    "CREATE INDEX IF NOT EXISTS outcomes_status_ts ON outcomes (status, ts)",
    "CREATE INDEX IF NOT EXISTS outcomes_status_received ON outcomes (status, received_ts)",
    "CREATE TABLE IF NOT EXISTS performance_reports (report_id TEXT PRIMARY KEY, ts INTEGER NOT NULL, "
    "doc TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS performance_reports_ts ON performance_reports (ts)",
    # the look-ups that match outcomes to events
    "CREATE INDEX IF NOT EXISTS events_request ON events (request_id)",
    "CREATE INDEX IF NOT EXISTS events_client_ts ON events (client_ref, ts)",
)
_COLUMNS = ", ".join(OUTCOME_FIELDS)
# one json_extract of both paths: SQLite parses the 120-feature JSON once per row, not twice
_CONTEXT_SQL = ("event_id, timestamp, request_id, client_ref, status, model_version, score, decision, threshold, "
                "json_extract(features, '$.CODE_GENDER', '$.DAYS_BIRTH')")
_CONTEXT_KEYS = ("event_id", "timestamp", "request_id", "client_ref", "status", "model_version", "score",
                 "decision", "threshold")
_CHUNK = 500  # ids per IN (...) query: below SQLite's host-parameter limit


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


def _context(row: Sequence[Any]) -> dict[str, Any]:
    context = dict(zip(_CONTEXT_KEYS, row[:-1], strict=True))
    context["CODE_GENDER"], context["DAYS_BIRTH"] = orjson.loads(row[-1])
    return context


def _outcome(row: Sequence[Any]) -> dict[str, Any]:
    doc = dict(zip(OUTCOME_FIELDS, row, strict=True))
    doc["defaulted"] = bool(doc["defaulted"])
    return doc


class SQLiteOutcomes(OutcomeStore):
    """The outcome methods of :class:`shared.store.sqlite.SQLiteEventStore` (a mixin over its connection)."""

    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _save_side(self, table: str, id_field: str, doc: Mapping[str, Any]) -> str:
        raise NotImplementedError

    def _list_side(self, table: str, limit: int, window: TimeWindow | None) -> list[dict[str, Any]]:
        raise NotImplementedError

    def setup_outcomes(self, conn: sqlite3.Connection) -> None:
        """Create the outcome tables and the look-up indexes (inside the caller's transaction)."""
        for statement in OUTCOME_SCHEMA:
            conn.execute(statement)

    # --- writes ---------------------------------------------------------------
    def upsert_outcomes(self, outcomes: Sequence[Mapping[str, Any]]) -> OutcomeWrite:
        """Store outcomes keyed by ``outcome_id``; equal re-sends are counted unchanged and not written."""
        result = OutcomeWrite()
        latest: dict[str, tuple[Mapping[str, Any], int | None, int]] = {}
        repeats = 0
        for position, doc in enumerate(outcomes):
            try:
                outcome_id, moment, received = check_outcome(doc)
            except (DocumentError, TypeError, AttributeError) as exc:
                key = doc.get("outcome_id") if isinstance(doc, Mapping) else None
                result.failed[key if isinstance(key, str) and key else f"<document {position}>"] = str(exc)
                continue
            repeats += outcome_id in latest
            latest[outcome_id] = (doc, moment, received)
        result.unchanged += repeats
        if not latest:
            return result
        ids = list(latest)
        placeholders = ", ".join("?" * (len(OUTCOME_FIELDS) + 2))
        with self._write() as conn:
            stored: dict[str, dict[str, Any]] = {}
            for chunk in _chunks(ids):
                marks = ", ".join("?" * len(chunk))
                for row in conn.execute(f"SELECT {_COLUMNS} FROM outcomes WHERE outcome_id IN ({marks})", chunk):
                    stored[row[0]] = _outcome(row)
            rows = []
            for outcome_id, (doc, moment, received) in latest.items():
                old = stored.get(outcome_id)
                if old is not None and same_outcome(old, doc):
                    result.unchanged += 1
                    result.verdicts[outcome_id] = "unchanged"
                    continue
                verdict = "accepted" if old is None else "updated"
                setattr(result, verdict, getattr(result, verdict) + 1)
                result.verdicts[outcome_id] = verdict
                values = [doc.get(name) for name in OUTCOME_FIELDS]
                rows.append((moment, received, *values))
            if rows:
                conn.executemany(f"INSERT OR REPLACE INTO outcomes (ts, received_ts, {_COLUMNS}) "
                                 f"VALUES ({placeholders})", rows)
        return result

    def get_outcome(self, outcome_id: str) -> dict[str, Any] | None:
        """One outcome document, or None."""
        row = self._conn().execute(f"SELECT {_COLUMNS} FROM outcomes WHERE outcome_id = ?", (outcome_id,)).fetchone()
        return _outcome(row) if row else None

    def delete_outcomes(self, outcome_ids: Sequence[str]) -> int:
        """Delete outcome documents; returns how many were deleted."""
        deleted = 0
        with self._write() as conn:
            for chunk in _chunks(list(outcome_ids)):
                marks = ", ".join("?" * len(chunk))
                deleted += conn.execute(f"DELETE FROM outcomes WHERE outcome_id IN ({marks})", chunk).rowcount
        return deleted

    # --- event look-ups -----------------------------------------------------------
    def events_by_id(self, event_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The contexts of the events found, by ``event_id``."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(dict.fromkeys(event_ids))):
            marks = ", ".join("?" * len(chunk))
            for row in self._conn().execute(f"SELECT {_CONTEXT_SQL} FROM events WHERE event_id IN ({marks})", chunk):
                found[row[0]] = _context(row)
        return found

    def events_by_request(self, request_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """The contexts of each request's events, by ``request_id``."""
        found: dict[str, list[dict[str, Any]]] = {}
        for chunk in _chunks(list(dict.fromkeys(request_ids))):
            marks = ", ".join("?" * len(chunk))
            rows = self._conn().execute(f"SELECT {_CONTEXT_SQL} FROM events WHERE request_id IN ({marks}) "
                                        "ORDER BY ts, event_id", chunk)
            for row in rows:
                context = _context(row)
                found.setdefault(context["request_id"], []).append(context)
        return found

    def newest_client_events(self, queries: Sequence[tuple[str, datetime]]) -> list[dict[str, Any] | None]:
        """Per ``(client_ref, at)``: that client's newest scored event at or before ``at``."""
        conn = self._conn()
        answers: list[dict[str, Any] | None] = []
        for client_ref, at in queries:
            row = conn.execute(f"SELECT {_CONTEXT_SQL} FROM events WHERE client_ref = ? AND ts <= ? "
                               "AND status = 'ok' ORDER BY ts DESC, event_id DESC LIMIT 1",
                               (client_ref, common.to_ms(at))).fetchone()
            answers.append(_context(row) if row else None)
        return answers

    # --- performance reads ------------------------------------------------------------
    def scored_summaries(self, window: TimeWindow | None = None, limit: int = 100_000) -> list[dict[str, Any]]:
        """The newest ``limit`` scored events of the window, newest first, as contexts."""
        clauses = ["status = 'ok'"]
        params: list[Any] = []
        if window is not None:
            clauses.append("ts >= ? AND ts < ?")
            params += list(common.window_ms(window))
        rows = self._conn().execute(f"SELECT {_CONTEXT_SQL} FROM events WHERE {' AND '.join(clauses)} "
                                    "ORDER BY ts DESC, event_id DESC LIMIT ?", [*params, limit])
        return [_context(row) for row in rows]

    def matched_outcomes(self, window: TimeWindow | None = None) -> list[dict[str, Any]]:
        """Matched outcomes whose event's timestamp lies in the window."""
        sql = f"SELECT {_COLUMNS} FROM outcomes WHERE status = ?"
        params: list[Any] = [MATCHED]
        if window is not None:
            sql += " AND ts >= ? AND ts < ?"
            params += list(common.window_ms(window))
        return [_outcome(row) for row in self._conn().execute(sql, params)]

    def pending_outcomes(self, limit: int = 10_000) -> list[dict[str, Any]]:
        """Outcomes waiting for their event, oldest received first."""
        rows = self._conn().execute(f"SELECT {_COLUMNS} FROM outcomes WHERE status = ? "
                                    "ORDER BY received_ts, outcome_id LIMIT ?", (PENDING, limit))
        return [_outcome(row) for row in rows]

    def count_outcomes(self, status: str, window: TimeWindow | None = None) -> int:
        """Outcomes of one status received in the window."""
        sql = "SELECT COUNT(*) FROM outcomes WHERE status = ?"
        params: list[Any] = [status]
        if window is not None:
            sql += " AND received_ts >= ? AND received_ts < ?"
            params += list(common.window_ms(window))
        return int(self._conn().execute(sql, params).fetchone()[0])

    # --- performance runs ----------------------------------------------------------------
    def save_performance_report(self, report: Mapping[str, Any]) -> str:
        """Store one performance run; returns its id."""
        return self._save_side("performance_reports", "report_id", report)

    def list_performance_reports(self, limit: int = 200, window: TimeWindow | None = None) -> list[dict[str, Any]]:
        """Performance runs, newest first."""
        return self._list_side("performance_reports", limit, window)

