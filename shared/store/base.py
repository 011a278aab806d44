"""The store interface: what the indexer writes and what monitoring asks.

Monitoring asks questions, not for raw dumps: each query is a method here,
pushed down to Elasticsearch aggregations by that adapter and to SQL by the
SQLite one. One contract test suite runs against both adapters.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.columns import CLIENT_ID
from shared.pseudonym import Pseudonymiser
from shared.store.outcome_base import OutcomeStore

if TYPE_CHECKING:
    from shared.pseudonym import ClientMatcher
    from shared.store.columns import ColumnSample

_FREE_TEXT = ("raw_input", "error_message")


@dataclass(frozen=True)
class TimeWindow:
    """A half-open time window [since, until) in UTC."""

    since: datetime
    until: datetime

    @classmethod
    def last(cls, duration: timedelta, now: datetime | None = None) -> TimeWindow:
        """The window of the last ``duration`` up to now."""
        end = now or datetime.now(UTC)
        return cls(end - duration, end)


@dataclass
class IndexResult:
    """Outcome of a bulk write: how many documents were stored, and which failed why."""

    indexed: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # event_id -> reason: refused for good (bad document)
    # event_id -> reason: not stored this time but may be later (store busy, index closed): resend.
    retry: dict[str, str] = field(default_factory=dict)


@dataclass
class OpsBucket:
    """Operational figures of one time bucket (all paths unless asked for one).

    Latencies are milliseconds. Scores (mean and percentiles) are over the
    scored events; percentiles are exact in SQLite, estimates (t-digest) in
    Elasticsearch. Everything but the counts is None when the bucket holds no scored event.
    """

    start: datetime
    count: int = 0
    ok: int = 0
    invalid: int = 0
    errors: int = 0
    approved: int = 0
    refused: int = 0
    mean_score: float | None = None
    score_p10: float | None = None
    score_p50: float | None = None
    score_p90: float | None = None
    latency_p50: float | None = None
    latency_p95: float | None = None
    latency_p99: float | None = None
    inference_p50: float | None = None
    inference_p95: float | None = None
    inference_p99: float | None = None
    queue_wait_p95: float | None = None


class EventStore(OutcomeStore):
    """Events, drift reports and alerts, with the queries monitoring needs (and the outcomes, see
    :class:`~shared.store.outcome_base.OutcomeStore`).

    ``pseudonymiser`` (set by :func:`shared.store.factory.make_store` from
    ``PSEUDONYMISATION_KEY``) pseudonymises, on the way out of :meth:`get_event`
    and :meth:`recent_events`, a client id left in clear in free text stored
    before such text was pseudonymised: what the dashboard shows holds none.
    """

    pseudonymiser: Pseudonymiser = Pseudonymiser(None)

    def shown(self, doc: dict[str, Any]) -> dict[str, Any]:
        """``doc`` with any clear client id in its free text replaced by its pseudonym (in place)."""
        for name in _FREE_TEXT:
            value = doc.get(name)
            if isinstance(value, str) and CLIENT_ID in value:
                doc[name] = self.pseudonymiser.text(value)
        return doc

    # --- lifecycle -------------------------------------------------------
    @abc.abstractmethod
    def setup(self) -> None:
        """Create tables / index templates; idempotent, called at start-up."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    @abc.abstractmethod
    def healthy(self) -> bool:
        """True when the backing server answers."""

    def refresh(self) -> None:  # noqa: B027 - optional hook
        """Make the writes done so far visible to queries (Elasticsearch refreshes every few seconds)."""

    # --- events ------------------------------------------------------------
    @abc.abstractmethod
    def index_events(self, events: Sequence[Mapping[str, Any]]) -> IndexResult:
        """Store events (``ScoringEvent.to_dict()``), keyed by ``event_id``: a replay overwrites, never duplicates."""

    def index_raw_events(self, raws: Sequence[bytes]) -> IndexResult:
        """Store events given as their JSON bytes (as the event stream carries them).

        The same as :meth:`index_events` on the decoded documents, except that ``failed`` and
        ``retry`` are keyed by position, ``"<document N>"`` with N the index in ``raws``; bytes
        that are not a JSON object are ``failed`` as ``"undecodable: ..."``. An adapter may store
        the bytes as they are, without decoding them (Elasticsearch does).
        """
        from shared.store.raw_events import decode_event

        result = IndexResult()
        docs: list[dict[str, Any]] = []
        positions: list[int] = []
        for position, raw in enumerate(raws):
            try:
                docs.append(decode_event(raw))
            except ValueError as exc:
                result.failed[f"<document {position}>"] = f"undecodable: {exc}"
                continue
            positions.append(position)
        if not docs:
            return result
        stored = self.index_events(docs)
        result.indexed = stored.indexed
        for source, target in ((stored.failed, result.failed), (stored.retry, result.retry)):
            if not source:
                continue
            for k, (doc, position) in enumerate(zip(docs, positions, strict=True)):
                reason = source.get(str(doc.get("event_id"))) or source.get(f"<document {k}>")
                if reason is not None:
                    target[f"<document {position}>"] = reason
        return result

    @abc.abstractmethod
    def count_events(self, window: TimeWindow | None = None, *, status: str | None = None,
                     path: str | None = None) -> int:
        """Number of events, optionally in a window, of one status or path."""

    @abc.abstractmethod
    def get_event(self, event_id: str) -> dict[str, Any] | None:
        """One event by id, or None."""

    @abc.abstractmethod
    def events_of_job(self, job_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        """The events of one async job (its applications), oldest first, up to ``limit``."""

    @abc.abstractmethod
    def recent_events(self, limit: int = 50, window: TimeWindow | None = None) -> list[dict[str, Any]]:
        """The newest events, newest first (whole documents)."""

    @abc.abstractmethod
    def sample_applications(self, window: TimeWindow | None = None, limit: int = 100_000) -> list[dict[str, Any]]:
        """Scored applications (status ok) for drift: the newest ``limit`` in the window.

        Returns:
            Dicts of the raw features plus ``"score"`` (the model's probability)
            and ``"timestamp"``.
        """

    def sample_columns(self, numeric: Sequence[str], categorical: Sequence[str], window: TimeWindow | None = None,
                       limit: int = 100_000) -> ColumnSample:
        """The same sample as :meth:`sample_applications`, in columns (see :mod:`shared.store.columns`).

        Args:
            numeric: fields read as numbers (``score`` included if wanted).
            categorical: fields kept as texts.
            window: as for :meth:`sample_applications`.
            limit: as for :meth:`sample_applications`.
        """
        from shared.store.columns import rows_to_columns

        return rows_to_columns(self.sample_applications(window=window, limit=limit), numeric, categorical)

    # --- monitoring queries ---------------------------------------------------
    @abc.abstractmethod
    def operations(self, window: TimeWindow, interval: timedelta, path: str | None = None) -> list[OpsBucket]:
        """Per time bucket: counts by status and decision, score mean and p10/p50/p90, timing percentiles."""

    @abc.abstractmethod
    def latency_percentiles(self, window: TimeWindow, path: str | None = None, field: str = "total_ms",
                            percentiles: Sequence[float] = (50, 95, 99), *,
                            status: str | None = "ok") -> dict[float, float | None]:
        """Percentiles of one timing field (``total_ms``, ``inference_ms``, ...) over the window.

        Over scored events (``status="ok"``) by default, like :meth:`operations`;
        ``status=None`` takes every event that has the field.
        """

    @abc.abstractmethod
    def score_histogram(self, window: TimeWindow, bins: int = 20) -> list[tuple[float, float, int]]:
        """Counts of scores in ``bins`` equal bins over [0, 1]: ``(lower, upper, count)``."""

    @abc.abstractmethod
    def decision_counts(self, window: TimeWindow) -> dict[str, int]:
        """Scored applications per decision ("approved", "refused")."""

    # --- drift reports and alerts --------------------------------------------------
    @abc.abstractmethod
    def save_report(self, report: Mapping[str, Any]) -> str:
        """Store one drift-run summary (must hold ``report_id`` and ``timestamp``); returns its id."""

    @abc.abstractmethod
    def list_reports(self, limit: int = 50, window: TimeWindow | None = None) -> list[dict[str, Any]]:
        """Drift-run summaries, newest first."""

    @abc.abstractmethod
    def save_alert(self, alert: Mapping[str, Any]) -> str:
        """Store one alert (must hold ``alert_id`` and ``timestamp``); returns its id."""

    @abc.abstractmethod
    def list_alerts(self, limit: int = 100, window: TimeWindow | None = None) -> list[dict[str, Any]]:
        """Alerts, newest first."""

    @abc.abstractmethod
    def shadow_events(self, window: TimeWindow | None = None, limit: int = 10_000) -> list[dict[str, Any]]:
        """The newest scored events the challenger also scored: ``model_version``, ``score``, ``decision``,
        ``shadow`` and ``timestamp`` of each, newest first."""

    # --- model registry moves --------------------------------------------------------
    @abc.abstractmethod
    def save_model_event(self, event: Mapping[str, Any]) -> str:
        """Store one promotion, rollback or registration (must hold ``model_event_id`` and ``timestamp``)."""

    @abc.abstractmethod
    def list_model_events(self, limit: int = 100, window: TimeWindow | None = None) -> list[dict[str, Any]]:
        """Registry moves, newest first."""
    # --- erasure and access (GDPR art. 15 and 17) ------------------------------------
    @abc.abstractmethod
    def find_client(self, matcher: ClientMatcher) -> dict[str, list[dict[str, Any]]]:
        """Every stored document about one client, per collection of :data:`shared.store.personal.PERSONAL_DATA`.

        A document is about the client when a reference field holds its pseudonym,
        or a free-text field holds the pseudonym or (text stored before it was
        pseudonymised) the clear id after the ``SK_ID_CURR`` key.

        Returns:
            ``{collection: [documents]}`` for every listed collection (empty lists included).
        """

    @abc.abstractmethod
    def forget_client(self, matcher: ClientMatcher, *, dry_run: bool = False) -> dict[str, int]:
        """Delete every document :meth:`find_client` finds (core API only in Elasticsearch: search, then bulk delete).

        Idempotent: a second call finds nothing and deletes nothing. Writes no audit record
        (the caller does, with :meth:`save_audit`).

        Args:
            matcher: the client.
            dry_run: count only, delete nothing.

        Returns:
            ``{collection: documents deleted (or that would be)}`` for every listed collection.
        """

    @abc.abstractmethod
    def save_audit(self, record: Mapping[str, Any]) -> str:
        """Store one audit record (must hold ``audit_id`` and ``timestamp``; never a client id); returns its id."""

    @abc.abstractmethod
    def list_audit(self, limit: int = 100, window: TimeWindow | None = None) -> list[dict[str, Any]]:
        """Audit records, newest first."""

    # --- resource samples ---------------------------------------------------------
    @abc.abstractmethod
    def save_resources(self, samples: Sequence[Mapping[str, Any]]) -> int:
        """Store resource samples (each with ``sample_id``, ``timestamp`` and ``kind``); returns how many.

        A sample is one process (``kind="process"``: ``service``, ``pid``, ``cpu_percent``,
        ``rss_bytes``, ``open_fds``), the host, Redis or an Elasticsearch node at one
        moment (see ``monitoring.resources``). A replay with the same ids overwrites.
        """

    @abc.abstractmethod
    def list_resources(self, window: TimeWindow | None = None, kind: str | None = None,
                       limit: int = 10_000) -> list[dict[str, Any]]:
        """The newest ``limit`` resource samples (of one ``kind``, in a window), oldest first."""

    # --- retention ---------------------------------------------------------------
    @abc.abstractmethod
    def apply_retention(self, days: int, now: datetime | None = None) -> int:
        """Drop events older than ``days`` (whole daily indices in Elasticsearch); returns how many units dropped."""
