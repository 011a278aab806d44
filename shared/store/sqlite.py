"""The embedded store: one SQLite file (WAL), for running without any server.

Typed columns hold what queries filter and aggregate on (time, status, path,
decision, score, timings); the features stay a JSON object. Every thread gets
its own connection (WAL lets readers run while the one writer writes); writes
go through one lock. Percentiles are computed in Python over the window, which
is fine at embedded scale.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from shared.store import common
from shared.store.base import EventStore, IndexResult, OpsBucket, TimeWindow
from shared.store.mapping import DocumentError, check_event, check_resource_sample, event_key, parse_timestamp
from shared.store.personal import AUDIT_TABLE
from shared.store.sqlite_outcomes import SQLiteOutcomes
from shared.store.sqlite_personal import SQLitePersonalData
from shared.store.sqlite_schema import DOC_COLUMNS, SCHEMA, TABLE_COLUMNS, added_columns, event_row, row_to_event


class SQLiteEventStore(SQLitePersonalData, SQLiteOutcomes, EventStore):
    """Events, drift reports, alerts, outcomes and performance runs in one SQLite file.

    Args:
        path: the database file (its folder is created); ``":memory:"`` is refused
            since each thread opens its own connection.
    """

    def __init__(self, path: str | Path) -> None:
        if str(path) == ":memory:":
            raise ValueError("SQLiteEventStore needs a file path (each thread opens its own connection)")
        self.path = Path(path)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SQLiteEventStore({str(self.path)!r})"

    # --- lifecycle -------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA secure_delete=ON")  # a deleted row is overwritten, not left in a free page
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def setup(self) -> None:
        """Create the tables and indexes (idempotent)."""
        with self._write() as conn:
            for statement in SCHEMA:
                conn.execute(statement)
            existing = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
            for statement in added_columns(existing):  # a file written before a field was added
                conn.execute(statement)
            self.setup_outcomes(conn)

    def close(self) -> None:
        """Close every thread's connection."""
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def healthy(self) -> bool:
        """True when the file can be read."""
        try:
            self._conn().execute("SELECT 1 FROM events LIMIT 1").fetchall()
        except sqlite3.Error:
            return False
        return True

    # --- events ------------------------------------------------------------
    def index_events(self, events: Sequence[Mapping[str, Any]]) -> IndexResult:
        """Store events keyed by ``event_id`` (a replay replaces); refused documents are listed in ``failed``."""
        result = IndexResult()
        rows = []
        for position, doc in enumerate(events):
            key = doc.get("event_id") if isinstance(doc, Mapping) else None
            key = key if isinstance(key, str) and key else f"<document {position}>"
            try:
                check_event(doc)
                event_id, moment = event_key(doc)
                rows.append(event_row(doc, event_id, moment))
            except (DocumentError, TypeError, AttributeError) as exc:
                result.failed[key] = f"document_parsing_exception: {exc}"
        if rows:
            placeholders = ", ".join("?" * len(rows[0]))
            with self._write() as conn:
                conn.executemany(f"INSERT OR REPLACE INTO events ({TABLE_COLUMNS}) VALUES ({placeholders})", rows)
            result.indexed = len(rows)
        return result

    def _where(self, window: TimeWindow | None, status: str | None = None, path: str | None = None,
               extra: str = "") -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if window is not None:
            since, until = common.window_ms(window)
            clauses.append("ts >= ? AND ts < ?")
            params += [since, until]
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if path is not None:
            clauses.append("path = ?")
            params.append(path)
        if extra:
            clauses.append(extra)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def count_events(self, window: TimeWindow | None = None, *, status: str | None = None,
                     path: str | None = None) -> int:
        """Number of events, optionally in a window, of one status or path."""
        where, params = self._where(window, status, path)
        return int(self._conn().execute(f"SELECT COUNT(*) FROM events{where}", params).fetchone()[0])

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        """One event by id, or None."""
        row = self._conn().execute(f"SELECT {DOC_COLUMNS} FROM events WHERE event_id = ?", (event_id,)).fetchone()
        return self.shown(row_to_event(row)) if row else None

    def events_of_job(self, job_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        """The events of one async job (its applications), oldest first, up to ``limit``."""
        rows = self._conn().execute(
            f"SELECT {DOC_COLUMNS} FROM events WHERE job_id = ? ORDER BY ts, event_id LIMIT ?", (job_id, limit)
        )
        return [row_to_event(row) for row in rows]

    def recent_events(self, limit: int = 50, window: TimeWindow | None = None) -> list[dict[str, Any]]:
        """The newest events, newest first (whole documents)."""
        where, params = self._where(window)
        rows = self._conn().execute(
            f"SELECT {DOC_COLUMNS} FROM events{where} ORDER BY ts DESC, event_id DESC LIMIT ?", [*params, limit]
        )
        return [self.shown(row_to_event(row)) for row in rows]

    def sample_applications(self, window: TimeWindow | None = None, limit: int = 100_000) -> list[dict[str, Any]]:
        """The newest ``limit`` scored applications: raw features plus ``score`` and ``timestamp``."""
        where, params = self._where(window, "ok")
        rows = self._conn().execute(
            f"SELECT features, score, timestamp FROM events{where} ORDER BY ts DESC, event_id DESC LIMIT ?",
            [*params, limit],
        )
        sample = []
        for features, score, timestamp in rows:
            item = orjson.loads(features)
            item["score"] = score
            item["timestamp"] = timestamp
            sample.append(item)
        return sample

    def shadow_events(self, window: TimeWindow | None = None, limit: int = 10_000) -> list[dict[str, Any]]:
        """The newest scored events the challenger also scored, newest first."""
        where, params = self._where(window, "ok", extra="shadow IS NOT NULL")
        rows = self._conn().execute(
            f"SELECT model_version, score, decision, shadow, timestamp FROM events{where} "
            "ORDER BY ts DESC, event_id DESC LIMIT ?", [*params, limit])
        return [{"model_version": version, "score": score, "decision": decision, "shadow": orjson.loads(shadow),
                 "timestamp": timestamp} for version, score, decision, shadow, timestamp in rows]

    # --- monitoring queries ---------------------------------------------------
    def operations(self, window: TimeWindow, interval: timedelta, path: str | None = None) -> list[OpsBucket]:
        """Per time bucket: counts by status and decision, score mean and p10/p50/p90, timing percentiles."""
        starts = common.bucket_starts(window, interval)
        width = common.interval_ms(interval)
        since, _ = common.window_ms(window)
        buckets = {start: OpsBucket(start=common.from_ms(start)) for start in starts}
        where, params = self._where(window, path=path)
        bucket_sql = f"(? + ((ts - ?) / {width}) * {width})"
        counts = self._conn().execute(
            f"""SELECT {bucket_sql} AS b, COUNT(*), SUM(status = 'ok'), SUM(status = 'invalid'),
                       SUM(status = 'error'), SUM(status = 'ok' AND decision = 'approved'),
                       SUM(status = 'ok' AND decision = 'refused'), AVG(CASE WHEN status = 'ok' THEN score END)
                FROM events{where} GROUP BY b""",
            [since, since, *params],
        )
        for start, count, ok, invalid, errors, approved, refused, mean_score in counts:
            bucket = buckets[start]
            bucket.count, bucket.ok, bucket.invalid, bucket.errors = count, ok, invalid, errors
            bucket.approved, bucket.refused, bucket.mean_score = approved, refused, mean_score
        values: dict[int, dict[str, list[float]]] = {start: {} for start in starts}  # bucket -> field -> values
        where, params = self._where(window, "ok", path)
        rows = self._conn().execute(
            f"SELECT {bucket_sql} AS b, score, total_ms, inference_ms, queue_wait_ms FROM events{where}",
            [since, since, *params],
        )
        for start, score, total, inference, queue_wait in rows:
            per_field = values[start]
            for name, value in (("score", score), ("total_ms", total), ("inference_ms", inference),
                                ("queue_wait_ms", queue_wait)):
                if value is not None:
                    per_field.setdefault(name, []).append(value)
        for start, per_field in values.items():
            bucket = buckets[start]
            scores = sorted(per_field.get("score", ()))
            bucket.score_p10, bucket.score_p50, bucket.score_p90 = (common.percentile(scores, q) for q in (10, 50, 90))
            total = sorted(per_field.get("total_ms", ()))
            inference = sorted(per_field.get("inference_ms", ()))
            queue_wait = sorted(per_field.get("queue_wait_ms", ()))
            bucket.latency_p50, bucket.latency_p95, bucket.latency_p99 = (
                common.percentile(total, q) for q in (50, 95, 99))
            bucket.inference_p50, bucket.inference_p95, bucket.inference_p99 = (
                common.percentile(inference, q) for q in (50, 95, 99))
            bucket.queue_wait_p95 = common.percentile(queue_wait, 95)
        return [buckets[start] for start in starts]

    def latency_percentiles(self, window: TimeWindow, path: str | None = None, field: str = "total_ms",
                            percentiles: Sequence[float] = (50, 95, 99), *,
                            status: str | None = "ok") -> dict[float, float | None]:
        """Percentiles of one timing field over the window (scored events unless ``status`` says otherwise)."""
        common.check_timing_field(field)
        where, params = self._where(window, status, path, extra=f"{field} IS NOT NULL")
        values = [v for (v,) in self._conn().execute(f"SELECT {field} FROM events{where} ORDER BY {field}", params)]
        return {q: common.percentile(values, q) for q in percentiles}

    def score_histogram(self, window: TimeWindow, bins: int = 20) -> list[tuple[float, float, int]]:
        """Counts of scores in ``bins`` equal bins over [0, 1]: ``(lower, upper, count)``."""
        edges = common.histogram_edges(bins)
        sums, params = [], []
        for i in range(bins):
            last = i == bins - 1
            sums.append(f"SUM(score >= ? AND score {'<=' if last else '<'} ?)")
            params += [edges[i], edges[i + 1]]
        where, where_params = self._where(window, "ok", extra="score IS NOT NULL")
        row = self._conn().execute(f"SELECT {', '.join(sums)} FROM events{where}", [*params, *where_params]).fetchone()
        return [(edges[i], edges[i + 1], int(row[i] or 0)) for i in range(bins)]

    def decision_counts(self, window: TimeWindow) -> dict[str, int]:
        """Scored applications per decision ("approved", "refused")."""
        where, params = self._where(window, "ok", extra="decision IS NOT NULL")
        counts = dict.fromkeys(common.DECISIONS, 0)
        for decision, count in self._conn().execute(
                f"SELECT decision, COUNT(*) FROM events{where} GROUP BY decision", params):
            counts[decision] = count
        return counts

    # --- drift reports and alerts --------------------------------------------------
    def _save_side(self, table: str, id_field: str, doc: Mapping[str, Any]) -> str:
        doc_id = doc.get(id_field)
        if not isinstance(doc_id, str) or not doc_id:
            raise DocumentError(f"{id_field}: expected a non-empty string, got {doc_id!r}")
        moment = parse_timestamp(doc.get("timestamp"))
        body = orjson.dumps(dict(doc), option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
        with self._write() as conn:
            conn.execute(f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?)", (doc_id, common.to_ms(moment), body))
        return doc_id

    def _list_side(self, table: str, limit: int, window: TimeWindow | None) -> list[dict[str, Any]]:
        where, params = self._where(window)
        rows = self._conn().execute(f"SELECT doc FROM {table}{where} ORDER BY ts DESC LIMIT ?", [*params, limit])
        return [orjson.loads(doc) for (doc,) in rows]

    def save_report(self, report: Mapping[str, Any]) -> str:
        """Store one drift-run summary (must hold ``report_id`` and ``timestamp``); returns its id."""
        return self._save_side("drift_reports", "report_id", report)

    def list_reports(self, limit: int = 50, window: TimeWindow | None = None) -> list[dict[str, Any]]:
        """Drift-run summaries, newest first."""
        return self._list_side("drift_reports", limit, window)

    def save_alert(self, alert: Mapping[str, Any]) -> str:
        """Store one alert (must hold ``alert_id`` and ``timestamp``); returns its id."""
        return self._save_side("alerts", "alert_id", alert)

    def list_alerts(self, limit: int = 100, window: TimeWindow | None = None) -> list[dict[str, Any]]:
        """Alerts, newest first."""
        return self._list_side("alerts", limit, window)

    def save_model_event(self, event: Mapping[str, Any]) -> str:
        """Store one registry move (must hold ``model_event_id`` and ``timestamp``); returns its id."""
        return self._save_side("model_events", "model_event_id", event)

    def list_model_events(self, limit: int = 100, window: TimeWindow | None = None) -> list[dict[str, Any]]:
        """Registry moves, newest first."""
        return self._list_side("model_events", limit, window)
    def save_audit(self, record: Mapping[str, Any]) -> str:
        """Store one audit record (must hold ``audit_id`` and ``timestamp``); returns its id."""
        return self._save_side(AUDIT_TABLE, "audit_id", record)

    def list_audit(self, limit: int = 100, window: TimeWindow | None = None) -> list[dict[str, Any]]:
        """Audit records, newest first."""
        return self._list_side(AUDIT_TABLE, limit, window)

    # --- resource samples ---------------------------------------------------------
    def save_resources(self, samples: Sequence[Mapping[str, Any]]) -> int:
        """Store resource samples (each with ``sample_id``, ``timestamp`` and ``kind``); returns how many."""
        rows = [(sample_id, common.to_ms(moment), kind,
                 orjson.dumps(dict(doc), option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS))
                for doc, sample_id, moment, kind in map(check_resource_sample, samples)]
        with self._write() as conn:
            conn.executemany("INSERT OR REPLACE INTO resources VALUES (?, ?, ?, ?)", rows)
        return len(rows)

    def list_resources(self, window: TimeWindow | None = None, kind: str | None = None,
                       limit: int = 10_000) -> list[dict[str, Any]]:
        """The newest ``limit`` resource samples (of one ``kind``, in a window), oldest first."""
        where, params = self._where(window, extra="kind = ?" if kind else "")
        rows = self._conn().execute(f"SELECT doc FROM resources{where} ORDER BY ts DESC, sample_id LIMIT ?",
                                    [*params, *([kind] if kind else []), limit])
        return [orjson.loads(doc) for (doc,) in rows][::-1]

    # --- retention ---------------------------------------------------------------
    def apply_retention(self, days: int, now: datetime | None = None) -> int:
        """Delete the events of UTC days before ``now - days``; returns how many days were dropped."""
        cutoff = common.cutoff_day(days, now).isoformat()
        with self._write() as conn:
            dropped = conn.execute("SELECT COUNT(DISTINCT day) FROM events WHERE day < ?", (cutoff,)).fetchone()[0]
            conn.execute("DELETE FROM events WHERE day < ?", (cutoff,))
        return int(dropped)


