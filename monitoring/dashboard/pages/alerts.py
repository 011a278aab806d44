"""Alerts: what the anomaly and drift jobs raised, newest first."""

from __future__ import annotations

from collections import Counter
from typing import Any

from dash import Dash, Input, Output, dash_table, dcc, html

from monitoring.dashboard.components import card, page
from monitoring.dashboard.data import DashboardData

PATH = "/alerts"
COLUMNS = [
    {"name": "time (UTC)", "id": "time"}, {"name": "severity", "id": "severity"}, {"name": "metric", "id": "metric"},
    {"name": "path / queue", "id": "path"}, {"name": "value", "id": "value"}, {"name": "threshold", "id": "threshold"},
    {"name": "baseline", "id": "baseline"}, {"name": "message", "id": "message"},
]
SEVERITY_STYLE = [
    {"if": {"filter_query": '{severity} = "critical"'}, "backgroundColor": "#ffebee", "color": "#b71c1c"},
    {"if": {"filter_query": '{severity} = "warning"'}, "backgroundColor": "#fff8e1"},
]


def layout() -> html.Div:
    """The alerts page."""
    return page(
        "Alerts",
        "Critical: a service limit is broken (error rate, latency, queue age) or the score distribution drifted; "
        "act now (see 'What to do when an alert fires' in docs/monitoring.md). Warning: unusual against the "
        "recent baseline, or some features drifted; look today. Info: worth knowing (traffic surge). A repeated "
        "alert is stored at most once per cooldown (15 min by default).",
        html.Div(id="alerts-cards", className="cards"),
        html.Div([html.Label("Severity: ", htmlFor="alerts-severity"),
                  dcc.Checklist(id="alerts-severity", options=["critical", "warning", "info"],
                                value=["critical", "warning", "info"], inline=True)], className="controls"),
        html.Div(dash_table.DataTable(  # type: ignore[attr-defined]
            id="alerts-table", columns=COLUMNS, data=[], sort_action="native", page_size=20,
            style_cell={"fontFamily": "inherit", "fontSize": 13, "padding": "4px 8px", "textAlign": "left",
                        "whiteSpace": "normal", "height": "auto"},
            style_header={"fontWeight": "600", "backgroundColor": "#eceff1"},
            style_data_conditional=SEVERITY_STYLE,
        ), className="panel wide"),
        html.P(id="alerts-empty", className="caption"),
    )


def _num(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def register(app: Dash, data: DashboardData) -> None:
    """Wire the page's callbacks."""

    @app.callback(Output("alerts-cards", "children"), Output("alerts-table", "data"),
                  Output("alerts-empty", "children"), Input("window", "value"), Input("refresh", "n_intervals"),
                  Input("alerts-severity", "value"))
    def _update(window: str, _n: int, severities: list[str]) -> tuple[Any, ...]:
        alerts = data.alerts(window)
        counts = Counter(a.get("severity") for a in alerts)
        cards = [card(s.capitalize(), f"{counts.get(s, 0):,}", f"{s} alerts in the window",
                      "bad" if s == "critical" and counts.get(s) else "") for s in ("critical", "warning", "info")]
        rows = [{"time": (a.get("timestamp") or "")[:19].replace("T", " "), "severity": a.get("severity"),
                 "metric": a.get("metric"), "path": a.get("path") or "", "value": _num(a.get("value")),
                 "threshold": _num(a.get("threshold")), "baseline": _num(a.get("baseline")),
                 "message": a.get("message")} for a in alerts if a.get("severity") in (severities or [])]
        empty = "" if alerts else "No alert in this window."
        return cards, rows, empty
