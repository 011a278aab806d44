"""The production store: Elasticsearch, through its core API only.

Events go to daily indices ``{prefix}-events-YYYY.MM.DD`` (the UTC day of
their timestamp) with ``_id = event_id``, so a replay overwrites; the index
template (strict mapping, see :mod:`shared.store.mapping`) is installed by
:meth:`ElasticsearchEventStore.setup`. Drift reports and alerts have one index
each. Queries are aggregations (terms, filter, date_histogram, range, avg,
percentiles); big samples are read on a point in time, in time ranges of about a
page that date histograms plan and two threads read at once with ``search_after``.
Retention deletes whole daily indices: no ILM, data streams, ingest pipelines,
scripts or delete-by-query, which the core server lacks.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from elasticsearch import ApiError, Elasticsearch, TransportError

from shared.store import common, elastic_aggs
from shared.store.base import EventStore, IndexResult, OpsBucket, TimeWindow
from shared.store.columns import ColumnSample, concat, rows_to_columns
from shared.store.elastic_columns import (
    ColumnPage,
    Serializer,
    application_row,
    decode_error_body,
    decode_page,
    newest_first,
    raw_bodies,
)
from shared.store.elastic_errors import classify_item_error, item_reason, translate_errors
from shared.store.elastic_outcomes import SUMMARY_FIELDS, ElasticOutcomes, summary
from shared.store.elastic_personal import ElasticPersonalData
from shared.store.mapping import (
    DocumentError,
    check_resource_sample,
    event_key,
    events_template,
    parse_timestamp,
    resources_index_body,
    side_index_body,
)
from shared.store.personal import AUDIT_INDEX
from shared.store.raw_events import decode_event, raw_event_key

PAGE = 10_000  # hits per page: Elasticsearch's default max_result_window
# hits per page of a columnar sample: 20 MB responses instead of 40 MB (fewer page faults, half the peak of the
# response bytes), for the same server work
COLUMN_PAGE = 5_000
READ_THREADS = 2  # concurrent page reads of a big sample (the server fetches while the client parses)
_BUCKETS = 1_000  # time buckets of the histogram that plans a big read
_HISTOGRAM_ROUNDS = 3  # finer histograms when the newest events sit in a small part of the span
_KEEP_ALIVE = "2m"
_SORT_NEWEST = [{"timestamp": {"order": "desc"}}, {"event_id": {"order": "desc"}}]
_BULK_FILTER = "errors,items.*.status,items.*.error.type,items.*.error.reason,items.*.error.caused_by.reason"


def make_client(url: str, request_timeout: float = 30.0, *, basic_auth: tuple[str, str] | None = None,
                api_key: str | None = None, ca_certs: str | None = None) -> Elasticsearch:
    """An Elasticsearch client for ``url`` with the orjson serializer (faster bulk bodies).

    Args:
        url: the server, ``http://`` or ``https://``; several nodes of one cluster comma-separated
            (requests go round them, and one that does not answer is retried on another).
        request_timeout: seconds per request.
        basic_auth: (user, password), or None.
        api_key: an encoded API key, or None (instead of ``basic_auth``).
        ca_certs: PEM file of the CA to trust for an ``https://`` URL (default: the system's and certifi's).
    """
    options: dict[str, Any] = {}
    if basic_auth is not None:
        options["basic_auth"] = basic_auth
    if api_key is not None:
        options["api_key"] = api_key
    if ca_certs is not None:
        options["ca_certs"] = ca_certs
    hosts = [part.strip() for part in url.split(",") if part.strip()]
    return Elasticsearch(hosts, request_timeout=request_timeout, max_retries=2, retry_on_timeout=True,
                         serializer=Serializer(), **options)


class _Pit:
    """The id of an open point in time (the latest one the server gave)."""

    def __init__(self, pit_id: str) -> None:
        self.id = pit_id


def _source(hit: dict[str, Any]) -> dict[str, Any]:
    return hit["_source"]  # type: ignore[no-any-return]


def _shadow(hit: dict[str, Any]) -> dict[str, Any]:
    source = hit["_source"]
    return {key: source.get(key) for key in ("model_version", "score", "decision", "shadow", "timestamp")}


def _in_range(query: dict[str, Any], since: int, until: int) -> dict[str, Any]:
    """``query`` restricted to timestamps in ``[since, until)`` (epoch ms)."""
    return {"bool": {"filter": [query, {"range": {"timestamp": {"gte": since, "lt": until,
                                                                 "format": "epoch_millis"}}}]}}


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (it is restored after, if it was on)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class ElasticsearchEventStore(ElasticPersonalData, ElasticOutcomes, EventStore):
    """Events, drift reports, alerts, outcomes and performance runs in Elasticsearch.

    Args:
        client: an Elasticsearch client, or the server's URL.
        prefix: the index prefix (setting ``es_index_prefix``), e.g. ``scoring``.
        replicas: replicas per shard of the indices created (0 for one node).
        shards: primary shards of each daily events index.
    """

    def __init__(self, client: Elasticsearch | str, prefix: str, *, replicas: int = 0,
                 shards: int = 1) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", prefix):
            raise ValueError(f"index prefix must be lower-case letters, digits, '-', '_' or '.', got {prefix!r}")
        self.client = make_client(client) if isinstance(client, str) else client
        self.prefix = prefix
        self.replicas = replicas
        self.shards = shards
        self.events_pattern = f"{prefix}-events-*"
        self.events_alias = f"{prefix}-events"
        self.reports_index = f"{prefix}-drift-reports"
        self.alerts_index = f"{prefix}-alerts"
        self.model_events_index = f"{prefix}-model-events"
        self.audit_index = f"{prefix}-{AUDIT_INDEX}"
        self.resources_index = f"{prefix}-resources"
        self._day_re = re.compile(rf"^{re.escape(prefix)}-events-(\d{{4}})\.(\d{{2}})\.(\d{{2}})$")

    def __repr__(self) -> str:
        return f"ElasticsearchEventStore(prefix={self.prefix!r})"

    def events_index(self, moment: datetime) -> str:
        """The daily index of an event time (its UTC day)."""
        return f"{self.prefix}-events-{common.as_utc(moment):%Y.%m.%d}"

    # --- lifecycle -------------------------------------------------------
    @translate_errors
    def setup(self) -> None:
        """Install the events template and create the report and alert indices (idempotent)."""
        self.client.indices.put_index_template(name=f"{self.prefix}-events",
                                               **events_template(self.prefix, self.replicas, self.shards))
        for index, id_field in self._side_indices():
            if not self.client.indices.exists(index=index):
                try:
                    self.client.indices.create(index=index, **side_index_body(id_field, self.replicas))
                except ApiError as exc:  # another process created it in between
                    if "resource_already_exists_exception" not in str(exc):
                        raise
        self.setup_outcomes()
        if not self.client.indices.exists(index=self.resources_index):
            try:
                self.client.indices.create(index=self.resources_index, **resources_index_body(self.replicas))
            except ApiError as exc:
                if "resource_already_exists_exception" not in str(exc):
                    raise

    def _side_indices(self) -> tuple[tuple[str, str], ...]:
        """(index, id field) of every index beside the daily event indices."""
        return ((self.reports_index, "report_id"), (self.alerts_index, "alert_id"),
                (self.model_events_index, "model_event_id"), (self.audit_index, "audit_id"))

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()

    def healthy(self) -> bool:
        """True when the cluster answers with status green or yellow (``GET /`` is absent on the core server)."""
        try:
            health = self.client.options(request_timeout=3).cluster.health()
        except (ApiError, TransportError):
            return False
        return health.get("status") in ("green", "yellow")

    @translate_errors
    def refresh(self) -> None:
        """Make every write so far visible to searches."""
        self.client.indices.refresh(index=[self.events_pattern, *(index for index, _ in self._side_indices()),
                                           *self.outcome_indices(), self.resources_index],
                                    ignore_unavailable=True, allow_no_indices=True)

    @translate_errors
    def drop_all(self) -> list[str]:
        """Delete this prefix's indices and template (tests and uninstall only: the data is gone)."""
        rows: Any = self.client.cat.indices(index=f"{self.prefix}-*", h="index", format="json",
                                            expand_wildcards="all").body
        names = [row["index"] for row in rows]
        sides = {index for index, _ in self._side_indices()} | set(self.outcome_indices()) | {self.resources_index}
        names = [n for n in names if self._day_re.match(n) or n in sides]
        if names:
            self.client.indices.delete(index=names, ignore_unavailable=True)
        self.client.options(ignore_status=404).indices.delete_index_template(name=f"{self.prefix}-events")
        self.client.options(ignore_status=404).indices.delete_index_template(name=self.outcomes_index)
        return names

    # --- events ------------------------------------------------------------
    @translate_errors
    def index_events(self, events: Sequence[Mapping[str, Any]]) -> IndexResult:
        """Bulk-index events into their daily indices, ``_id = event_id``.

        Documents the mapping refuses are listed in ``failed``; documents the
        server could not take this time (overload, closed index) in ``retry``.

        Raises:
            StoreUnavailableError: when the server does not answer (nothing is known stored).
        """
        result = IndexResult()
        ids: list[str] = []
        body = bytearray()
        for position, doc in enumerate(events):
            try:
                event_id, moment = event_key(doc)
                source = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
            except (DocumentError, TypeError, AttributeError) as exc:
                key = doc.get("event_id") if isinstance(doc, Mapping) else None
                result.failed[key if isinstance(key, str) and key else f"<document {position}>"] = (
                    f"document_parsing_exception: {exc}")
                continue
            body += orjson.dumps({"index": {"_index": self.events_index(moment), "_id": event_id}})
            body += b"\n" + source + b"\n"
            ids.append(event_id)
        return self._bulk(body, ids, result)

    @translate_errors
    def index_raw_events(self, raws: Sequence[bytes]) -> IndexResult:
        """Bulk-index events given as their JSON bytes, each stored as it is (``_source``), ``_id = event_id``.

        The id and day are read from the end of the bytes (:func:`shared.store.raw_events.raw_event_key`);
        bytes of another shape are decoded and written as :meth:`index_events` does. Results are keyed
        ``"<document N>"`` (see :meth:`EventStore.index_raw_events`).

        Raises:
            StoreUnavailableError: when the server does not answer (nothing is known stored).
        """
        result = IndexResult()
        keys: list[str] = []
        body = bytearray()
        days: dict[str, bytes] = {}  # "YYYY.MM.DD" -> the start of the action line of that day's index
        for position, raw in enumerate(raws):
            key = f"<document {position}>"
            found = raw_event_key(raw)
            if found is None:
                try:
                    doc = decode_event(raw)
                except ValueError as exc:
                    result.failed[key] = f"undecodable: {exc}"
                    continue
                try:
                    event_id, moment = event_key(doc)
                    raw = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
                except (DocumentError, TypeError, AttributeError) as exc:
                    result.failed[key] = f"document_parsing_exception: {exc}"
                    continue
                day = f"{common.as_utc(moment):%Y.%m.%d}"
            else:
                event_id, day = found
            action = days.get(day)
            if action is None:
                action = days[day] = b'{"index":{"_index":' + orjson.dumps(f"{self.prefix}-events-{day}") + b',"_id":'
            body += action + orjson.dumps(event_id) + b"}}\n" + raw + b"\n"
            keys.append(key)
        return self._bulk(body, keys, result)

    def _bulk(self, body: bytearray, keys: list[str], result: IndexResult) -> IndexResult:
        """Send one bulk body of ``len(keys)`` index actions; each item's outcome recorded under its key."""
        if not keys:
            return result
        response = self.client.bulk(operations=bytes(body), filter_path=_BULK_FILTER)  # type: ignore[arg-type]
        if not response.get("errors"):
            result.indexed += len(keys)
            return result
        for key, item in zip(keys, response["items"], strict=True):
            outcome = next(iter(item.values()))
            error = outcome.get("error")
            if not error:
                result.indexed += 1
            elif classify_item_error(outcome.get("status", 500), error) == "retry":
                result.retry[key] = item_reason(error)
            else:
                result.failed[key] = item_reason(error)
        return result

    def _query(self, window: TimeWindow | None = None, status: str | None = None, path: str | None = None,
               exists: str | None = None) -> dict[str, Any]:
        filters: list[dict[str, Any]] = []
        if window is not None:
            since, until = common.window_ms(window)
            filters.append({"range": {"timestamp": {"gte": since, "lt": until, "format": "epoch_millis"}}})
        if status is not None:
            filters.append({"term": {"status": status}})
        if path is not None:
            filters.append({"term": {"path": path}})
        if exists is not None:
            filters.append({"exists": {"field": exists}})
        return {"bool": {"filter": filters}}

    def _search(self, **body: Any) -> dict[str, Any]:
        return self.client.search(index=self.events_pattern, ignore_unavailable=True, allow_no_indices=True,
                                  **body).body

    @translate_errors
    def count_events(self, window: TimeWindow | None = None, *, status: str | None = None,
                     path: str | None = None) -> int:
        """Number of events, optionally in a window, of one status or path."""
        response = self.client.count(index=self.events_pattern, ignore_unavailable=True, allow_no_indices=True,
                                     query=self._query(window, status, path))
        return int(response["count"])

    @translate_errors
    def get_event(self, event_id: str) -> dict[str, Any] | None:
        """One event by id, or None."""
        hits = self._search(query={"ids": {"values": [event_id]}}, size=1)["hits"]["hits"]
        return self.shown(hits[0]["_source"]) if hits else None

    @translate_errors
    def events_of_job(self, job_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        """The events of one async job (its applications), oldest first, up to ``limit``."""
        hits = self._search(query={"term": {"job_id": job_id}}, size=limit,
                            sort=[{"timestamp": "asc"}, {"event_id": "asc"}])["hits"]["hits"]
        return [hit["_source"] for hit in hits]

    @translate_errors
    def recent_events(self, limit: int = 50, window: TimeWindow | None = None) -> list[dict[str, Any]]:
        """The newest events, newest first (whole documents)."""
        return self._newest(self._query(window), limit, lambda hit: self.shown(_source(hit)))

    @translate_errors
    def shadow_events(self, window: TimeWindow | None = None, limit: int = 10_000) -> list[dict[str, Any]]:
        """The newest scored events the challenger also scored, newest first."""
        return self._newest(self._query(window, "ok", exists="shadow.probability"), limit, _shadow)

    @translate_errors
    def sample_applications(self, window: TimeWindow | None = None, limit: int = 100_000) -> list[dict[str, Any]]:
        """The newest ``limit`` scored applications: raw features plus ``score`` and ``timestamp``.

        Read as described in :meth:`_newest`. The whole ``_source`` is fetched:
        the server then copies the stored bytes, where ``_source`` filtering or
        ``filter_path`` make it parse and rewrite every document (measured 1.5 to
        8 times slower per page of 10,000); ``docvalue_fields`` would return
        the ``float`` features rounded to 32 bits, not the values stored.
        """
        return self._newest(self._query(window, "ok"), limit, application_row)

    @translate_errors
    def scored_summaries(self, window: TimeWindow | None = None, limit: int = 100_000) -> list[dict[str, Any]]:
        """The newest ``limit`` scored events of the window, newest first, as contexts.

        Read from doc values (``_source`` off): every field asked is a keyword,
        a date, an integer or a ``double``, whose doc values are exact, and the
        server then skips loading the 120-feature documents.
        """
        fetch = {"source": False, "docvalue_fields": SUMMARY_FIELDS}
        return self._newest(self._query(window, "ok"), limit, summary, fetch)

    @translate_errors
    def sample_columns(self, numeric: Sequence[str], categorical: Sequence[str], window: TimeWindow | None = None,
                       limit: int = 100_000) -> ColumnSample:
        """The sample of :meth:`sample_applications`, in columns.

        Read as :meth:`_newest` reads (ranges and pages of ``COLUMN_PAGE`` hits), but each page goes from the
        response's bytes straight into columns (:mod:`shared.store.elastic_columns`): no dict per document
        is ever built, and only the pages of the ranges being read are alive at once.
        """
        query = self._query(window, "ok")
        numeric, categorical = tuple(numeric), tuple(categorical)
        if limit <= PAGE:
            raw = self._raw_search(index=self.events_pattern, ignore_unavailable=True, allow_no_indices=True,
                                   query=query, size=limit, sort=_SORT_NEWEST, track_total_hits=False)
            return decode_page(raw, numeric, categorical).columns

        page = min(PAGE, COLUMN_PAGE)

        def read(pit: _Pit, bounds: tuple[int, int]) -> ColumnSample:
            return newest_first(self._range_pages(pit, query, bounds, numeric, categorical, page))

        parts = self._over_ranges(query, limit, read, page)
        return concat(parts, limit) if parts else rows_to_columns([], numeric, categorical)

    def _newest(self, query: dict[str, Any], limit: int,
                convert: Callable[[dict[str, Any]], dict[str, Any]],
                fetch: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Hits newest first (ties: larger ``event_id`` first), up to ``limit``, each through ``convert``.

        Up to one page: one sorted search. Beyond, on a point in time: date
        histograms count the matching events per time bucket (exactly), the
        newest buckets that hold ``limit`` events are grouped into time ranges
        of about a page each, and ``READ_THREADS`` threads read the ranges at
        once, so the server fetches one range while this process parses
        another. Each range is put in order here by time and ``event_id``; the
        ranges do not overlap in time, so their concatenation is in order, and
        its first ``limit`` rows are the newest events, ties at the cut
        included, as one sorted read would give them.
        """
        if limit <= PAGE:
            response = self._search(query=query, size=limit, sort=_SORT_NEWEST, track_total_hits=False,
                                    **(fetch or {}))
            return [convert(hit) for hit in response.get("hits", {}).get("hits", [])]
        parts = self._over_ranges(query, limit,
                                  lambda pit, bounds: self._read_range(pit, query, bounds, convert, fetch))
        return [row for part in parts for row in part][:limit]

    def _over_ranges(self, query: dict[str, Any], limit: int, read: Callable[[_Pit, tuple[int, int]], Any],
                     page: int | None = None) -> list[Any]:
        """``read(pit, range)`` of each time range that holds the newest ``limit`` matching events, newest first,
        on one point in time, ``READ_THREADS`` ranges at once (see :meth:`_newest`); ranges of about ``page``
        events (default ``PAGE``)."""
        pit = _Pit(self.client.open_point_in_time(index=self.events_pattern, keep_alive=_KEEP_ALIVE,
                                                  index_filter=query, ignore_unavailable=True,
                                                  allow_partial_search_results=False)["id"])
        try:
            with _gc_paused():  # 100,000 parsed documents: the cyclic GC would rescan them after every page
                ranges = self._time_ranges(pit, query, limit, page)
                with ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="es-read") as pool:
                    return list(pool.map(lambda bounds: read(pit, bounds), ranges))
        finally:
            self.client.options(ignore_status=404).close_point_in_time(id=pit.id)

    def _raw_search(self, **body: Any) -> bytes:
        """A search response's body as bytes (an error keeps its decoded body and its message)."""
        try:
            with raw_bodies():
                return self.client.search(**body).body  # type: ignore[no-any-return]
        except ApiError as exc:
            body = decode_error_body(exc.body)
            error = body.get("error") if isinstance(body, dict) else None
            message = error.get("type", exc.message) if isinstance(error, dict) else (error or exc.message)
            raise type(exc)(message=str(message), meta=exc.meta, body=body) from None

    def _range_pages(self, pit: _Pit, query: dict[str, Any], bounds: tuple[int, int], numeric: Sequence[str],
                     categorical: Sequence[str], size: int) -> list[ColumnPage]:
        """:meth:`_read_range` in columns: the pages of every matching event in ``[since, until)``."""
        ranged = _in_range(query, *bounds)
        pages: list[ColumnPage] = []
        after: list[Any] | None = None
        while True:
            raw = self._raw_search(pit={"id": pit.id, "keep_alive": _KEEP_ALIVE}, query=ranged, track_total_hits=False,
                                   size=size, sort=[{"timestamp": {"order": "desc"}}], search_after=after)
            page = decode_page(raw, numeric, categorical)
            pit.id = page.pit_id or pit.id  # the server may hand out a new id: the latest is to be used
            pages.append(page)
            if len(page) < size:
                return pages
            after = page.last_sort

    def _pit_search(self, pit: _Pit, query: dict[str, Any], **body: Any) -> dict[str, Any]:
        response = self.client.search(pit={"id": pit.id, "keep_alive": _KEEP_ALIVE}, query=query,
                                      track_total_hits=False, **body).body
        pit.id = response.get("pit_id", pit.id)  # the server may hand out a new id: the latest is to be used
        return response

    def _time_ranges(self, pit: _Pit, query: dict[str, Any], limit: int,
                     page: int | None = None) -> list[tuple[int, int]]:
        """Time ranges ``[since, until)`` in epoch ms, newest first, that hold the newest ``limit`` matching
        events (or all of them), about ``page`` (default ``PAGE``) events each (more when one histogram bucket
        holds more)."""
        page = page or PAGE
        stats = self._pit_search(pit, query, size=0, aggs={"first": {"min": {"field": "timestamp"}},
                                                           "last": {"max": {"field": "timestamp"}}})
        aggs = stats.get("aggregations", {})
        if aggs.get("first", {}).get("value") is None:
            return []
        since, until = int(aggs["first"]["value"]), int(aggs["last"]["value"]) + 1
        for _ in range(_HISTOGRAM_ROUNDS):
            interval = max(1, -(-(until - since) // _BUCKETS))
            chosen: list[tuple[int, int]] = []  # (bucket start, events), newest first
            seen = 0
            for start, events in self._histogram(pit, query, since, until, interval):
                chosen.append((max(start, since), events))
                seen += events
                if seen >= limit:
                    break
            oldest = chosen[-1][0] if chosen else since
            # The newest `limit` events in a small part of the span: count again in finer buckets over that part.
            if interval == 1 or (until - oldest) * 4 >= until - since:
                break
            since = oldest
        ranges: list[tuple[int, int]] = []
        top, bottom, count = until, until, 0
        for start, events in chosen:
            if count and count + events > page:
                ranges.append((bottom, top))
                top, count = bottom, 0
            bottom, count = start, count + events
        if count:
            ranges.append((bottom, top))
        return ranges

    def _histogram(self, pit: _Pit, query: dict[str, Any], since: int, until: int,
                   interval: int) -> list[tuple[int, int]]:
        """Matching events per bucket of ``interval`` ms in ``[since, until)``: (bucket start, count), newest
        first, empty buckets left out."""
        response = self._pit_search(pit, _in_range(query, since, until), size=0, aggs={"buckets": {
            "date_histogram": {"field": "timestamp", "fixed_interval": f"{interval}ms", "min_doc_count": 1,
                               "order": {"_key": "desc"}}}})
        return [(int(b["key"]), int(b["doc_count"])) for b in response["aggregations"]["buckets"]["buckets"]]

    def _read_range(self, pit: _Pit, query: dict[str, Any], bounds: tuple[int, int],
                    convert: Callable[[dict[str, Any]], dict[str, Any]],
                    fetch: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every matching event in ``[since, until)`` (search_after pages), newest first, ties by ``event_id``."""
        ranged = _in_range(query, *bounds)
        keyed: list[tuple[int, str, dict[str, Any]]] = []
        after: list[Any] | None = None
        while True:
            page = self._pit_search(pit, ranged, size=PAGE, sort=[{"timestamp": {"order": "desc"}}],
                                    search_after=after, **(fetch or {}))
            batch = page.get("hits", {}).get("hits", [])
            keyed.extend((hit["sort"][0], hit["_id"], convert(hit)) for hit in batch)  # _id is the event_id
            if len(batch) < PAGE:
                break
            after = batch[-1]["sort"]
        keyed.sort(key=lambda row: (row[0], row[1]), reverse=True)
        return [row[2] for row in keyed]

    # --- monitoring queries ---------------------------------------------------
    def _aggregate(self, query: dict[str, Any], aggs: dict[str, Any]) -> dict[str, Any]:
        return self._search(query=query, aggs=aggs, size=0, track_total_hits=False, filter_path="aggregations")

    @translate_errors
    def operations(self, window: TimeWindow, interval: timedelta, path: str | None = None) -> list[OpsBucket]:
        """Per time bucket: counts by status and decision, score mean and p10/p50/p90, timing percentiles."""
        common.bucket_starts(window, interval)  # refuses too many buckets before asking the server
        response = self._aggregate(self._query(window, path=path), elastic_aggs.operations_aggs(window, interval))
        return elastic_aggs.parse_operations(response, window, interval)

    @translate_errors
    def latency_percentiles(self, window: TimeWindow, path: str | None = None, field: str = "total_ms",
                            percentiles: Sequence[float] = (50, 95, 99), *,
                            status: str | None = "ok") -> dict[float, float | None]:
        """Percentiles of one timing field over the window (scored events unless ``status`` says otherwise)."""
        common.check_timing_field(field)
        response = self._aggregate(self._query(window, status, path),
                                   elastic_aggs.percentiles_aggs(field, percentiles))
        return elastic_aggs.parse_percentiles(response, percentiles)

    @translate_errors
    def score_histogram(self, window: TimeWindow, bins: int = 20) -> list[tuple[float, float, int]]:
        """Counts of scores in ``bins`` equal bins over [0, 1]: ``(lower, upper, count)``."""
        response = self._aggregate(self._query(window, "ok"), elastic_aggs.histogram_aggs(bins))
        return elastic_aggs.parse_histogram(response, bins)

    @translate_errors
    def decision_counts(self, window: TimeWindow) -> dict[str, int]:
        """Scored applications per decision ("approved", "refused")."""
        response = self._aggregate(self._query(window, "ok"), elastic_aggs.decision_aggs())
        return elastic_aggs.parse_decisions(response)

    # --- drift reports and alerts --------------------------------------------------
    def _save_side(self, index: str, id_field: str, doc: Mapping[str, Any]) -> str:
        doc_id = doc.get(id_field)
        if not isinstance(doc_id, str) or not doc_id:
            raise DocumentError(f"{id_field}: expected a non-empty string, got {doc_id!r}")
        parse_timestamp(doc.get("timestamp"))
        # Rare writes that the dashboard lists at once: refreshed now.
        self.client.index(index=index, id=doc_id, document=dict(doc), refresh=True)
        return doc_id

    def _list_side(self, index: str, limit: int, window: TimeWindow | None) -> list[dict[str, Any]]:
        query = self._query(window)
        response = self.client.search(index=index, query=query, size=min(limit, PAGE), ignore_unavailable=True,
                                      sort=[{"timestamp": {"order": "desc"}}], filter_path="hits.hits._source")
        return [hit["_source"] for hit in response.body.get("hits", {}).get("hits", [])]

    @translate_errors
    def save_report(self, report: Mapping[str, Any]) -> str:
        """Store one drift-run summary (must hold ``report_id`` and ``timestamp``); returns its id."""
        return self._save_side(self.reports_index, "report_id", report)

    @translate_errors
    def list_reports(self, limit: int = 50, window: TimeWindow | None = None) -> list[dict[str, Any]]:
        """Drift-run summaries, newest first."""
        return self._list_side(self.reports_index, limit, window)

    @translate_errors
    def save_alert(self, alert: Mapping[str, Any]) -> str:
        """Store one alert (must hold ``alert_id`` and ``timestamp``); returns its id."""
        return self._save_side(self.alerts_index, "alert_id", alert)

    @translate_errors
    def list_alerts(self, limit: int = 100, window: TimeWindow | None = None) -> list[dict[str, Any]]:
        """Alerts, newest first."""
        return self._list_side(self.alerts_index, limit, window)

    @translate_errors
    def save_model_event(self, event: Mapping[str, Any]) -> str:
        """Store one registry move (must hold ``model_event_id`` and ``timestamp``); returns its id."""
        return self._save_side(self.model_events_index, "model_event_id", event)

    @translate_errors
    def list_model_events(self, limit: int = 100, window: TimeWindow | None = None) -> list[dict[str, Any]]:
        """Registry moves, newest first."""
        return self._list_side(self.model_events_index, limit, window)
    def save_audit(self, record: Mapping[str, Any]) -> str:
        """Store one audit record (must hold ``audit_id`` and ``timestamp``); returns its id."""
        return self._save_side(self.audit_index, "audit_id", record)

    @translate_errors
    def list_audit(self, limit: int = 100, window: TimeWindow | None = None) -> list[dict[str, Any]]:
        """Audit records, newest first."""
        return self._list_side(self.audit_index, limit, window)

    # --- resource samples ---------------------------------------------------------
    @translate_errors
    def save_resources(self, samples: Sequence[Mapping[str, Any]]) -> int:
        """Store resource samples (each with ``sample_id``, ``timestamp`` and ``kind``); returns how many."""
        operations: list[Any] = []
        for doc, sample_id, _moment, _kind in map(check_resource_sample, samples):
            operations += [{"index": {"_index": self.resources_index, "_id": sample_id}}, dict(doc)]
        if not operations:
            return 0
        response = self.client.bulk(operations=operations, refresh="wait_for")
        if response.body.get("errors"):
            reasons = [item["index"].get("error", {}).get("reason") for item in response.body["items"]
                       if item["index"].get("error")]
            raise DocumentError(f"resource samples refused: {reasons[:3]}")
        return len(operations) // 2

    @translate_errors
    def list_resources(self, window: TimeWindow | None = None, kind: str | None = None,
                       limit: int = 10_000) -> list[dict[str, Any]]:
        """The newest ``limit`` resource samples (of one ``kind``, in a window), oldest first."""
        query = self._query(window)
        if kind:
            query["bool"]["filter"].append({"term": {"kind": kind}})
        response = self.client.search(index=self.resources_index, query=query, size=min(limit, PAGE),
                                      ignore_unavailable=True, filter_path="hits.hits._source",
                                      sort=[{"timestamp": {"order": "desc"}}, {"sample_id": {"order": "asc"}}])
        return [hit["_source"] for hit in response.body.get("hits", {}).get("hits", [])][::-1]

    # --- retention ---------------------------------------------------------------
    def event_indices(self) -> dict[str, date]:
        """This prefix's daily event indices (open or closed) and their days."""
        rows: Any = self.client.cat.indices(index=self.events_pattern, h="index", format="json",
                                            expand_wildcards="all").body
        days = {}
        for row in rows:
            match = self._day_re.match(row["index"])
            if match:
                days[row["index"]] = date(*(int(part) for part in match.groups()))
        return days

    @translate_errors
    def apply_retention(self, days: int, now: datetime | None = None) -> int:
        """Delete the daily event indices of UTC days before ``now - days``; returns how many were deleted.

        The core server has no ILM: this is the deletion job. On a full server
        an ILM policy with a delete phase could do the same.
        """
        cutoff = common.cutoff_day(days, now)
        old = sorted(name for name, day in self.event_indices().items() if day < cutoff)
        if old:
            self.client.indices.delete(index=old, ignore_unavailable=True)
        return len(old)
