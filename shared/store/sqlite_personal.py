"""Erasure and access in the SQLite store: one client's rows in every personal-data collection.

Each collection of :data:`shared.store.personal.PERSONAL_DATA` is a table;
rows are narrowed in SQL where the fields are columns and matched on the
rebuilt document. Deleted rows are overwritten (``secure_delete``, set on every
connection) and the write-ahead log is emptied after an erasure.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import orjson

from shared.store import personal
from shared.store.personal import PersonalData, remember_links
from shared.store.sqlite_schema import DOC_COLUMNS, row_to_event

if TYPE_CHECKING:
    from shared.pseudonym import ClientMatcher


class SQLitePersonalData:
    """The erasure and access methods of :class:`shared.store.sqlite.SQLiteEventStore`."""

    _write_lock: threading.Lock
    _conn: Callable[[], sqlite3.Connection]
    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]

    def _client_rows(self, kind: PersonalData, matcher: ClientMatcher,
                     linked: dict[str, set[Any]]) -> list[tuple[int, dict[str, Any]]]:
        """``(rowid, document)`` of every row of ``kind`` about the client ([] when the table does not exist).

        Rows are narrowed in SQL when the reference, link and scan fields are columns; the
        final decision is :meth:`PersonalData.matches` on the rebuilt document.
        """
        conn = self._conn()
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({kind.table})")]
        if not columns:
            return []
        clauses: list[str] = []
        params: list[Any] = []
        narrowed = all(name in columns for name in (*kind.ref_fields, *kind.linked_by)) and (
            not kind.text_fields or (kind.scan_when and all(name in columns for name in kind.scan_when)))
        if narrowed:
            for name in kind.ref_fields:
                clauses.append(f"{name} = ?")
                params.append(matcher.ref)
            for name in kind.linked_by:
                values = sorted(linked.get(name, ()))
                if values:
                    clauses.append(f"{name} IN ({', '.join('?' * len(values))})")
                    params.extend(values)
            for name, scan in kind.scan_when.items() if kind.text_fields else ():
                clauses.append(f"{name} IN ({', '.join('?' * len(scan))})")
                params.extend(scan)
            if not clauses:
                return []
        where = f" WHERE {' OR '.join(clauses)}" if narrowed else ""
        found = []
        if kind.table == "events":
            rows = conn.execute(f"SELECT rowid, {DOC_COLUMNS} FROM events{where}", params)
            documents = ((row[0], row_to_event(row[1:])) for row in rows)
        else:
            cursor = conn.execute(f"SELECT rowid, * FROM {kind.table}{where}", params)
            names = [d[0] for d in cursor.description][1:]
            documents = ((row[0], _document(names, row[1:])) for row in cursor)
        for rowid, doc in documents:
            if kind.matches(matcher, doc, linked):
                found.append((rowid, doc))
        return found

    def _client_data(self, matcher: ClientMatcher) -> list[tuple[PersonalData, list[tuple[int, dict[str, Any]]]]]:
        linked: dict[str, set[Any]] = {}
        found = []
        for kind in personal.PERSONAL_DATA:
            rows = self._client_rows(kind, matcher, linked)
            remember_links(linked, (doc for _, doc in rows))
            found.append((kind, rows))
        return found

    def find_client(self, matcher: ClientMatcher) -> dict[str, list[dict[str, Any]]]:
        """Every stored document about one client, per personal-data collection."""
        return {kind.name: [doc for _, doc in rows] for kind, rows in self._client_data(matcher)}

    def forget_client(self, matcher: ClientMatcher, *, dry_run: bool = False) -> dict[str, int]:
        """Delete every row about one client; returns the count per collection."""
        counts = {}
        for kind, rows in self._client_data(matcher):
            if rows and not dry_run:
                with self._write() as conn:
                    conn.executemany(f"DELETE FROM {kind.table} WHERE rowid = ?", [(rowid,) for rowid, _ in rows])
            counts[kind.name] = len(rows)
        if any(counts.values()) and not dry_run:
            # the old pages still sit in the write-ahead log: copy the new ones back and empty it
            with self._write_lock:
                self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return counts


def _document(names: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    """A row of a side table as a document: its columns, and its JSON ``doc`` column spread out."""
    doc = dict(zip(names, row, strict=True))
    body = doc.pop("doc", None)
    if isinstance(body, str | bytes):
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc["doc"] = body
        else:
            if isinstance(parsed, dict):
                doc.update(parsed)
            else:
                doc["doc"] = parsed
    return doc
