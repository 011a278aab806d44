"""Events: the newest scoring event documents exactly as the store holds them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dash import Dash, Input, Output, dash_table, html

from monitoring.dashboard.components import page
from monitoring.dashboard.data import DashboardData

PATH = "/events"
LIMIT = 100
FEATURES = ("AMT_INCOME_TOTAL", "AMT_CREDIT", "NAME_CONTRACT_TYPE", "EXT_SOURCE_3")
FIELDS = ("timestamp", "path", "status", "client_ref", "score", "decision", "threshold", "total_ms", "inference_ms",
          "error_type")
COLUMNS = [{"name": name, "id": name} for name in (*FIELDS, *FEATURES)]
STATUS_STYLE = [
    {"if": {"filter_query": '{status} = "error"'}, "backgroundColor": "#ffebee", "color": "#b71c1c"},
    {"if": {"filter_query": '{status} = "invalid"'}, "backgroundColor": "#fff8e1"},
]
CAPTION = ("The newest {limit} event documents of the window, as stored: one document per scored application or "
           "failed attempt, in {where}. The client reference is pseudonymised (keyed HMAC-SHA256, first 12 of 32 hex "
           "digits shown): the client id is never stored. "
           "Only a few of the 120 raw features are shown; an empty cell is a missing value.")


def layout() -> html.Div:
    """The events page."""
    return page(
        "Events",
        "What the platform stores: each scoring request leaves a document with its input, output and timings. "
        "The other pages are aggregations of these documents.",
        html.P(id="events-caption", className="caption"),
        html.Div(dash_table.DataTable(  # type: ignore[attr-defined]
            id="events-table", columns=COLUMNS, data=[], sort_action="native", page_size=20,
            style_table={"overflowX": "auto"},
            style_cell={"fontFamily": "inherit", "fontSize": 12, "padding": "3px 5px", "textAlign": "left"},
            style_header={"fontWeight": "600", "backgroundColor": "#eceff1"},
            style_data_conditional=STATUS_STYLE,
        ), className="panel wide"),
        html.P(id="events-empty", className="caption"),
    )


def _cell(value: Any, digits: int | None = None) -> Any:
    """A table cell: None as empty, floats with ``digits`` decimals (else their shortest exact form)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}" if digits is not None else f"{value:.10g}"
    return value


def row(doc: Mapping[str, Any]) -> dict[str, Any]:
    """One table row from a stored event document."""
    timings = doc.get("timings") or {}
    features = doc.get("features") or {}
    out = {
        "timestamp": (doc.get("timestamp") or "").replace("T", " ").rstrip("Z"),
        "path": _cell(doc.get("path")), "status": _cell(doc.get("status")),
        "client_ref": (doc.get("client_ref") or "")[:12] + ("…" if doc.get("client_ref") else ""),
        "score": _cell(doc.get("score"), 4),
        "decision": _cell(doc.get("decision")), "threshold": _cell(doc.get("threshold"), 4),
        "total_ms": _cell(timings.get("total_ms"), 2), "inference_ms": _cell(timings.get("inference_ms"), 3),
        "error_type": _cell(doc.get("error_type")),
    }
    out.update({name: _cell(features.get(name)) for name in FEATURES})
    return out


def where(store: Any) -> str:
    """Where the documents live: the Elasticsearch daily indices of the prefix, or the SQLite file."""
    prefix = getattr(store, "prefix", None)
    if prefix is not None:
        return f"the Elasticsearch daily indices {prefix}-events-YYYY.MM.DD (one per UTC day)"
    return f"the SQLite file {getattr(store, 'path', '?')} (embedded mode)"


def register(app: Dash, data: DashboardData) -> None:
    """Wire the page's callbacks."""

    caption = CAPTION.format(limit=LIMIT, where=where(data.store))

    @app.callback(Output("events-table", "data"), Output("events-empty", "children"),
                  Output("events-caption", "children"), Input("window", "value"), Input("refresh", "n_intervals"))
    def _update(window: str, _n: int) -> tuple[Any, ...]:
        docs = data.events(window, limit=LIMIT)
        return [row(d) for d in docs], "" if docs else "No data in this window.", caption
