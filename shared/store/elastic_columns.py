"""Pages of search hits decoded from the response bytes straight into columns.

A page of 10,000 scored events is about 40 MB of JSON. Parsed into dicts, each
page makes over a million Python objects (a key and a value per feature per
hit) that the column conversion then walks again. Here the bytes go to a
``msgspec`` decoder typed for the few fields a sample reads: it skips the
others without building them, makes no key strings, and gives one small struct
per hit whose values an ``attrgetter`` hands to numpy as one tuple per row.
A page that does not fit the types (a text in a number field, a document
written by hand) is decoded the general way instead, with the same result.

The client returns a response's bytes undecoded inside :func:`raw_bodies`
(:class:`Serializer`, the store client's JSON serializer, reads a context
variable), so requests keep the client's retries, authentication and errors.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np
import orjson
from elasticsearch.serializer import OrjsonSerializer

from shared.store.columns import ColumnSample, concat, rows_to_columns

_RAW = ContextVar("elastic_raw_body", default=False)
SOURCE_FIELDS = ("score", "timestamp")  # read from ``_source`` itself; every other name from ``_source.features``


class Serializer(OrjsonSerializer):
    """The orjson serializer, returning a response's bytes as they are inside :func:`raw_bodies`."""

    def loads(self, data: bytes) -> Any:
        """The decoded body, or the bytes inside :func:`raw_bodies`."""
        return data if _RAW.get() else super().loads(data)


@contextmanager
def raw_bodies() -> Iterator[None]:
    """Responses received in this context (this thread) are returned as bytes, not decoded."""
    token = _RAW.set(True)
    try:
        yield
    finally:
        _RAW.reset(token)


def decode_error_body(body: Any) -> Any:
    """An error response's body decoded when it came back as bytes (None when it is not JSON)."""
    if not isinstance(body, bytes | bytearray):
        return body
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def application_row(hit: dict[str, Any]) -> dict[str, Any]:
    """A sample row of a parsed hit: the raw features plus ``score`` and ``timestamp``."""
    source = hit["_source"]
    item: dict[str, Any] = source.get("features") or {}
    item["score"] = source.get("score")
    item["timestamp"] = source.get("timestamp")
    return item


@dataclass
class ColumnPage:
    """One page of hits in columns, with what reading on and ordering need.

    Attributes:
        columns: the hits' columns, in the page's order.
        sort_keys: the first sort value of each hit (the timestamp in epoch ms), int64.
        ids: each hit's ``_id`` (the event id).
        last_sort: the last hit's sort values (``search_after`` for the next page), None when empty.
        pit_id: the point in time id the server returned, if any.
    """

    columns: ColumnSample
    sort_keys: np.ndarray
    ids: np.ndarray
    last_sort: list[Any] | None
    pit_id: str | None

    def __len__(self) -> int:
        return len(self.columns)


class _Decoder:
    """A msgspec decoder of search responses typed for one set of numeric and categorical fields."""

    def __init__(self, numeric: Sequence[str], categorical: Sequence[str]) -> None:
        import msgspec  # the monitoring side's dependency: the worker's store never reads samples

        self.numeric, self.categorical = list(numeric), list(categorical)
        self.numeric_features = [n for n in numeric if n not in SOURCE_FIELDS]
        self.numeric_positions = [self.numeric.index(n) for n in self.numeric_features]
        self.numeric_source = [(self.numeric.index(n), n) for n in numeric if n in SOURCE_FIELDS]
        # a source field read as a category (no caller does): the general way
        self.general = any(n in SOURCE_FIELDS for n in categorical)
        names = [*self.numeric_features, *self.categorical]
        slots = {f"f{i}": name for i, name in enumerate(names)}  # any field name, as a valid attribute
        n_numeric = len(self.numeric_features)
        features: Any = msgspec.defstruct(
            "Features", [(f"f{i}", float | None, None) for i in range(n_numeric)]
            + [(f"f{i}", str | None, None) for i in range(n_numeric, len(names))], rename=slots)
        source: Any = msgspec.defstruct("Source", [("features", features | None, None),
                                                   ("score", float | None, None), ("timestamp", str | None, None)])
        hit: Any = msgspec.defstruct("Hit", [("id", str, ""), ("source", source, msgspec.field(default_factory=source)),
                                             ("sort", list[Any], msgspec.field(default_factory=list))],
                                     rename={"id": "_id", "source": "_source"})
        hits: Any = msgspec.defstruct("Hits", [("hits", list[hit], msgspec.field(default_factory=list))])
        response: Any = msgspec.defstruct("Response", [("hits", hits, msgspec.field(default_factory=hits)),
                                                       ("pit_id", str | None, None)])
        self.decoder = msgspec.json.Decoder(response)
        self.invalid = msgspec.ValidationError
        self.empty = features()
        self.numeric_getter = _getter([f"f{i}" for i in range(n_numeric)])
        self.categorical_getter = _getter([f"f{i}" for i in range(n_numeric, len(names))])

    def decode(self, raw: bytes) -> ColumnPage:
        if self.general:
            return _general_page(orjson.loads(raw), self.numeric, self.categorical)
        try:
            response = self.decoder.decode(raw)
        except self.invalid:  # a value of another type (a text in a number field): the general way
            return _general_page(orjson.loads(raw), self.numeric, self.categorical)
        hits = response.hits.hits
        n = len(hits)
        empty = self.empty
        features = [hit.source.features or empty for hit in hits]
        numeric = np.empty((n, len(self.numeric)), dtype=np.float64)
        if self.numeric_features:
            get = self.numeric_getter
            numeric[:, self.numeric_positions] = np.array(
                [get(f) for f in features], dtype=np.float64).reshape(n, len(self.numeric_features))
        for j, name in self.numeric_source:
            numeric[:, j] = np.array([getattr(hit.source, name) for hit in hits], dtype=np.float64)
        categorical = np.empty((n, len(self.categorical)), dtype=object)
        if n and self.categorical:
            get = self.categorical_getter
            categorical[:] = [get(f) for f in features]
        stamps = np.empty(n, dtype=object)
        stamps[:] = [hit.source.timestamp for hit in hits]
        return ColumnPage(
            columns=ColumnSample(self.numeric, numeric, self.categorical, categorical, stamps),
            sort_keys=np.array([hit.sort[0] if hit.sort else 0 for hit in hits], dtype=np.int64),
            ids=np.array([hit.id for hit in hits], dtype=str),
            last_sort=hits[-1].sort if hits else None, pit_id=response.pit_id)


def _getter(slots: Sequence[str]) -> Any:
    """A function from a struct to the tuple of the named attributes."""
    if not slots:
        return lambda item: ()
    if len(slots) == 1:
        one = attrgetter(slots[0])
        return lambda item: (one(item),)
    return attrgetter(*slots)


def _general_page(body: dict[str, Any], numeric: Sequence[str], categorical: Sequence[str]) -> ColumnPage:
    """A parsed response's page the general way (rows of dicts, then columns)."""
    hits = body.get("hits", {}).get("hits", [])
    return ColumnPage(
        columns=rows_to_columns([application_row(hit) for hit in hits], numeric, categorical),
        sort_keys=np.array([hit["sort"][0] if hit.get("sort") else 0 for hit in hits], dtype=np.int64),
        ids=np.array([hit.get("_id", "") for hit in hits], dtype=str),
        last_sort=hits[-1].get("sort") if hits else None, pit_id=body.get("pit_id"))


@functools.lru_cache(maxsize=8)
def decoder(numeric: tuple[str, ...], categorical: tuple[str, ...]) -> _Decoder:
    """The page decoder for these fields (built once per set)."""
    return _Decoder(numeric, categorical)


def decode_page(raw: bytes, numeric: Sequence[str], categorical: Sequence[str]) -> ColumnPage:
    """The hits of a search response's bytes in columns.

    Args:
        raw: the response body.
        numeric: fields read as float64 (``score`` from ``_source``, the others from ``_source.features``).
        categorical: fields kept as texts (None when missing).
    """
    return decoder(tuple(numeric), tuple(categorical)).decode(raw)


def newest_first(pages: Sequence[ColumnPage]) -> ColumnSample:
    """The pages' rows in one sample, newest first, ties by larger event id first."""
    if not pages:
        raise ValueError("no pages")
    sample = concat([page.columns for page in pages])
    keys = np.concatenate([page.sort_keys for page in pages])
    ids = np.concatenate([page.ids for page in pages])
    order = np.lexsort((ids, keys))[::-1]
    if np.array_equal(order, np.arange(len(order))):
        return sample  # already in order (no two events of one millisecond out of id order)
    return ColumnSample(sample.numeric_names, sample.numeric[order], sample.categorical_names,
                        sample.categorical[order], sample.timestamps[order])
