"""The event document's shape, built from :mod:`shared.columns`: one source for both stores.

The Elasticsearch index template (a strict mapping: an unknown field is a
rejected document, never a new field) and the SQLite adapter's document check
are both derived from the column specification, so the schema, the encoding
and the stored documents cannot disagree on a name or a type.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from shared.columns import Column, feature_columns
from shared.event import TIMING_FIELDS

_INTEGER_TYPES = (("byte", 2**7), ("short", 2**15), ("integer", 2**31), ("long", 2**63))
_KEYWORD = {"type": "keyword"}
# Kept in _source only: the refused input may be anything, it is never searched.
_STORED_ONLY = {"type": "keyword", "index": False, "doc_values": False}

# The decision's reasons (shared.explain), stored only when the request asked for them.
# A reason's value is a number or a category: kept in _source, never indexed.
_REASON_FIELDS: dict[str, dict[str, Any]] = {
    "field": _KEYWORD,
    "value": {"type": "object", "enabled": False},
    "contribution": {"type": "double"},
    "direction": _KEYWORD,
    "derived_from": _KEYWORD,
}
_EXPLANATION_NUMBERS = ("raw_score", "base_value", "rest")
EXPLANATION_MAPPING: dict[str, Any] = {
    "type": "object",
    "dynamic": "strict",
    "properties": {
        **{name: {"type": "double"} for name in _EXPLANATION_NUMBERS},
        "reasons": {"type": "object", "dynamic": "strict", "properties": _REASON_FIELDS},
    },
}


# Fields of an event document that are not features, with their mapping.
EVENT_FIELDS: dict[str, dict[str, Any]] = {
    "event_id": _KEYWORD,
    "timestamp": {"type": "date", "format": "strict_date_optional_time||epoch_millis"},
    "request_id": _KEYWORD,
    "job_id": _KEYWORD,
    "path": _KEYWORD,
    "model_version": _KEYWORD,
    "client_ref": _KEYWORD,
    "raw_input": _STORED_ONLY,
    "score": {"type": "double"},
    "decision": _KEYWORD,
    "threshold": {"type": "double"},
    "status": _KEYWORD,
    "error_type": _KEYWORD,
    "error_message": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 1024}}},
    # the challenger's score of the same application (shadow scoring), when it scored it
    "shadow": {"type": "object", "dynamic": "strict", "properties": {
        "model_version": _KEYWORD, "probability": {"type": "double"}, "decision": _KEYWORD}},
    # the decision's reasons, when the request asked for them (explain=true)
    "explanation": EXPLANATION_MAPPING,
}


def feature_mapping(column: Column) -> dict[str, Any]:
    """The Elasticsearch field type of one application column.

    Categoricals are keywords; flags and integers take the smallest integer
    type that holds their accepted range; amounts are ``double`` (up to 1e9
    with cents: a 32-bit float would round them, and ``scaled_float`` is a
    module the core server lacks); other continuous values (ratios,
    normalised scores) are ``float``.
    """
    if column.kind == "categorical":
        return dict(_KEYWORD)
    if column.kind in ("flag", "integer"):
        bound = max(abs(column.minimum or 0), abs(column.maximum or 0))
        name = next(t for t, limit in _INTEGER_TYPES if bound < limit)
        return {"type": name}
    if column.name.startswith("AMT_"):
        return {"type": "double"}
    return {"type": "float"}


# The features read from doc values (``shared.store.elastic_outcomes.SUMMARY_FIELDS``): they keep them.
DOC_VALUE_FEATURES = ("CODE_GENDER", "DAYS_BIRTH")


def stored_feature_mapping(column: Column) -> dict[str, Any]:
    """The mapping of one feature inside stored events: its type, kept in ``_source`` only.

    No query filters, sorts or aggregates on a feature: the drift, the dashboard and the
    export read them from ``_source``, and the outcome summaries read
    :data:`DOC_VALUE_FEATURES` from doc values, which those keep. Without an index and doc
    values for the other features, Elasticsearch spends less CPU per stored event and the
    events take less disk (measured in ``docs/optimisation.md``). The types still check
    every value (the mapping stays strict); a new query on another feature needs its doc
    values back (a template change, for the indices created after it).
    """
    mapping = {**feature_mapping(column), "index": False}
    if column.name not in DOC_VALUE_FEATURES:
        mapping["doc_values"] = False
    return mapping


def events_mapping() -> dict[str, Any]:
    """The strict mapping of event documents (``ScoringEvent.to_dict()``)."""
    features = {c.name: stored_feature_mapping(c) for c in feature_columns()}
    timings = {name: {"type": "float"} for name in TIMING_FIELDS}
    return {
        "dynamic": "strict",
        "properties": {
            **EVENT_FIELDS,
            "features": {"type": "object", "dynamic": "strict", "properties": features},
            "timings": {"type": "object", "dynamic": "strict", "properties": timings},
        },
    }


def events_template(prefix: str, replicas: int = 0, shards: int = 1) -> dict[str, Any]:
    """The composable index template of the daily event indices ``{prefix}-events-*``.

    Args:
        prefix: the index prefix (``es_index_prefix``).
        replicas: replicas per shard (0 on a single node, where a replica could never be placed).
        shards: primary shards of each daily index (1 up to ~50 GB a day; more spread the writes).

    Returns:
        The body of ``PUT _index_template/{prefix}-events``.
    """
    return {
        "index_patterns": [f"{prefix}-events-*"],
        "priority": 200,
        "template": {
            "settings": {
                "number_of_shards": shards,
                "number_of_replicas": replicas,
                "refresh_interval": "5s",
                # A string where a number belongs, or 2.5 for an integer, is refused, not guessed.
                "index.mapping.coerce": False,
            },
            "mappings": events_mapping(),
            "aliases": {f"{prefix}-events": {}},
        },
        "_meta": {"description": "scoring events, one index per UTC day", "managed_by": "shared.store"},
    }


def side_index_body(id_field: str, replicas: int = 0) -> dict[str, Any]:
    """Settings and mapping of the drift-report and alert indices.

    Their summaries evolve with monitoring, so only the fields that are searched
    or sorted on are mapped; the rest stays in ``_source`` unindexed
    (``dynamic: false``): no field explosion, and no rejected report.
    """
    return {
        "settings": {"number_of_shards": 1, "number_of_replicas": replicas},
        "mappings": {
            "dynamic": False,
            "properties": {
                id_field: _KEYWORD,
                "timestamp": {"type": "date", "format": "strict_date_optional_time||epoch_millis"},
                "kind": _KEYWORD,
                "severity": _KEYWORD,
                "model_version": _KEYWORD,
            },
        },
    }


def resources_index_body(replicas: int = 0) -> dict[str, Any]:
    """Settings and mapping of the resource-samples index (one document per process, host or server per minute).

    The figures are read back whole by the dashboard and the anomaly rules,
    never aggregated on the server, so only the filter and sort fields are
    mapped (``dynamic: false``).
    """
    return {
        "settings": {"number_of_shards": 1, "number_of_replicas": replicas},
        "mappings": {
            "dynamic": False,
            "properties": {
                "sample_id": _KEYWORD,
                "timestamp": {"type": "date", "format": "strict_date_optional_time||epoch_millis"},
                "kind": _KEYWORD,
                "service": _KEYWORD,
                "pid": {"type": "long"},
            },
        },
    }


class DocumentError(ValueError):
    """An event document the store refuses (the reason is the message)."""


def parse_timestamp(value: Any) -> datetime:
    """An event timestamp (ISO-8601 text or epoch milliseconds) as an aware UTC datetime.

    Raises:
        DocumentError: when the value is missing or not a time.
    """
    if isinstance(value, bool) or value is None:
        raise DocumentError(f"timestamp: expected an ISO-8601 time, got {value!r}")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise DocumentError(f"timestamp: expected an ISO-8601 time, got {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def event_key(doc: Mapping[str, Any]) -> tuple[str, datetime]:
    """The id and UTC time of an event document, which both stores need to place it.

    Raises:
        DocumentError: when ``event_id`` or ``timestamp`` is missing or malformed.
    """
    event_id = doc.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        raise DocumentError(f"event_id: expected a non-empty string, got {event_id!r}")
    return event_id, parse_timestamp(doc.get("timestamp"))


def _number_error(name: str, value: Any, spec: Mapping[str, Any]) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{name}: expected a number, got {value!r}"
    if not math.isfinite(value):
        return f"{name}: expected a finite number, got {value!r}"
    for type_name, limit in _INTEGER_TYPES:
        if spec["type"] == type_name:
            if value != int(value):
                return f"{name}: value [{value}] has a decimal part"
            if not -limit <= value < limit:
                return f"{name}: value [{value}] is out of range for a {type_name}"
    return None


def check_event(doc: Mapping[str, Any]) -> None:
    """Refuse what the strict Elasticsearch mapping refuses (used by the SQLite store).

    Raises:
        DocumentError: with the first problem found.
    """
    event_key(doc)
    features_spec = _feature_specs()
    for name, value in doc.items():
        if name == "features":
            if not isinstance(value, Mapping):
                raise DocumentError(f"features: expected an object, got {type(value).__name__}")
            for feature, fvalue in value.items():
                spec = features_spec.get(feature)
                if spec is None:
                    raise DocumentError(f"features.{feature}: unknown field (strict mapping)")
                _check_value(f"features.{feature}", fvalue, spec)
        elif name == "timings":
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise DocumentError(f"timings: expected an object, got {type(value).__name__}")
            for timing, tvalue in value.items():
                if timing not in TIMING_FIELDS:
                    raise DocumentError(f"timings.{timing}: unknown field (strict mapping)")
                _check_value(f"timings.{timing}", tvalue, {"type": "float"})
        elif name == "explanation":
            _check_explanation(value)
        elif name not in EVENT_FIELDS:
            raise DocumentError(f"{name}: unknown field (strict mapping)")
        elif EVENT_FIELDS[name]["type"] == "object":
            _check_object(name, value, EVENT_FIELDS[name]["properties"])
        elif name != "timestamp":
            _check_value(name, value, EVENT_FIELDS[name])


def _check_explanation(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise DocumentError(f"explanation: expected an object, got {type(value).__name__}")
    for name, item in value.items():
        if name in _EXPLANATION_NUMBERS:
            _check_value(f"explanation.{name}", item, {"type": "double"})
        elif name == "reasons":
            for reason in item if isinstance(item, list | tuple) else [item]:
                if not isinstance(reason, Mapping):
                    raise DocumentError(f"explanation.reasons: expected objects, got {type(reason).__name__}")
                for key, field_value in reason.items():
                    spec = _REASON_FIELDS.get(key)
                    if spec is None:
                        raise DocumentError(f"explanation.reasons.{key}: unknown field (strict mapping)")
                    if key == "derived_from":
                        for raw in field_value if isinstance(field_value, list | tuple) else [field_value]:
                            _check_value(f"explanation.reasons.{key}", raw, spec)
                    elif key != "value":
                        _check_value(f"explanation.reasons.{key}", field_value, spec)
        else:
            raise DocumentError(f"explanation.{name}: unknown field (strict mapping)")


def storable_features(features: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The fields the strict mapping accepts, and the names of those it would refuse.

    For an event whose features were never validated (a job that failed before its
    applications were), so that the event is stored without them rather than refused whole.
    """
    specs = _feature_specs()
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for name, value in features.items():
        spec = specs.get(name)
        try:
            if spec is None:
                raise DocumentError(name)
            _check_value(name, value, spec)
        except DocumentError:
            dropped.append(str(name))
            continue
        kept[name] = value
    return kept, dropped


@cache
def _feature_specs() -> dict[str, dict[str, Any]]:
    return {c.name: feature_mapping(c) for c in feature_columns()}


def _check_object(name: str, value: Any, properties: Mapping[str, Any]) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise DocumentError(f"{name}: expected an object, got {type(value).__name__}")
    for key, inner in value.items():
        if key not in properties:
            raise DocumentError(f"{name}.{key}: unknown field (strict mapping)")
        _check_value(f"{name}.{key}", inner, properties[key])


def _check_value(name: str, value: Any, spec: Mapping[str, Any]) -> None:
    if value is None:
        return
    if spec["type"] in ("keyword", "text"):
        if isinstance(value, Mapping | list | tuple):
            raise DocumentError(f"{name}: expected a single value, got {type(value).__name__}")
        return
    error = _number_error(name, value, spec)
    if error:
        raise DocumentError(error)


RESOURCE_KINDS = frozenset({"process", "host", "redis", "elasticsearch"})


def check_resource_sample(doc: Mapping[str, Any]) -> tuple[Mapping[str, Any], str, datetime, str]:
    """A resource sample checked: ``(doc, sample_id, moment, kind)``.

    Raises:
        DocumentError: no ``sample_id``, no valid ``timestamp``, or an unknown ``kind``.
    """
    sample_id = doc.get("sample_id")
    if not isinstance(sample_id, str) or not sample_id:
        raise DocumentError(f"sample_id: expected a non-empty string, got {sample_id!r}")
    kind = doc.get("kind")
    if kind not in RESOURCE_KINDS:
        raise DocumentError(f"kind: expected one of {sorted(RESOURCE_KINDS)}, got {kind!r}")
    return doc, sample_id, parse_timestamp(doc.get("timestamp")), str(kind)
