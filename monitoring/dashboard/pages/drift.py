"""Drift: do today's applicants look like the ones the model was trained on?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dash import Dash, Input, Output, State, dash_table, dcc, html

from monitoring.dashboard import figures
from monitoring.dashboard.components import card, fmt, page, panel
from monitoring.dashboard.data import DashboardData

PATH = "/drift"
TABLE_COLUMNS = [
    {"name": "feature", "id": "feature"}, {"name": "verdict", "id": "verdict"}, {"name": "test", "id": "test"},
    {"name": "value", "id": "value", "type": "numeric"}, {"name": "threshold", "id": "threshold", "type": "numeric"},
    {"name": "missing ref %", "id": "missing_ref", "type": "numeric"},
    {"name": "missing now %", "id": "missing_cur", "type": "numeric"},
    {"name": "values compared", "id": "n_current", "type": "numeric"},
]


def layout() -> html.Div:
    """The drift page."""
    return page(
        "Data drift",
        "Each drift run compares the production applications of a window with the training reference, feature by "
        "feature: Wasserstein distance (normed by the reference spread) for numbers, Jensen-Shannon distance for "
        "categories and flags, the change of the missing-value share for every feature, and PSI for the score. "
        "A value at or above its threshold is drift.",
        html.Div(id="drift-cards", className="cards"),
        html.Div([
            html.Div([
                html.H3("Latest run, feature by feature"),
                html.P("Drifted features first. Click a row to plot that feature below. 'missing' columns are the "
                       "share of applications without a value (reference vs now).", className="caption"),
                dash_table.DataTable(  # type: ignore[attr-defined]
                    id="drift-table", columns=TABLE_COLUMNS, data=[], sort_action="native", filter_action="native",
                    page_size=15, style_table={"overflowX": "auto"},
                    style_cell={"fontFamily": "inherit", "fontSize": 13, "padding": "4px 8px", "textAlign": "left"},
                    style_header={"fontWeight": "600", "backgroundColor": "#eceff1"},
                    style_data_conditional=[{"if": {"filter_query": '{verdict} contains "DRIFT"'},
                                             "backgroundColor": "#ffebee", "color": "#b71c1c"}],
                ),
            ], className="panel wide"),
            html.Div([
                html.Div([html.Label("Feature: ", htmlFor="drift-feature"),
                          dcc.Dropdown(id="drift-feature", options=[], value=None, clearable=False,
                                       style={"minWidth": "320px"})], className="controls"),
                dcc.Graph(id="drift-distribution", config={"displaylogo": False}),
                html.P("Share of the feature's non-missing values per band (numbers) or category, as the latest run "
                       "compared them. Rare categories are pooled; DAYS_EMPLOYED excludes the 365243 placeholder.",
                       className="caption"),
            ], className="panel"),
            panel("drift-history", "One point per drift run in the window: the share of features that drifted (left) "
                                   "and the score PSI (right; above 0.1 the score distribution moved, above 0.25 "
                                   "it moved a lot)."),
        ], className="grid"),
    )


def _rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    by_feature: dict[str, dict[str, Any]] = {}
    for check in report.get("features", []):
        row = by_feature.setdefault(check["name"], {"feature": check["name"], "verdict": "ok", "flags": []})
        if check["test"] == "missing_share":
            row["missing_ref"] = round(100 * (check.get("reference_value") or 0), 2)
            row["missing_cur"] = round(100 * (check.get("current_value") or 0), 2)
        elif check["test"] == "special_value_share":
            pass
        else:
            row.update(test=check["test"], n_current=check.get("n_current"),
                       value=None if check.get("value") is None else round(check["value"], 4),
                       threshold=round(check["threshold"], 4), status=check.get("status"))
        if check.get("drifted"):
            row["flags"].append(check["test"])
    rows = []
    for row in by_feature.values():
        flags = row.pop("flags")
        status = row.pop("status", "ok")
        row["verdict"] = "DRIFT: " + ", ".join(flags) if flags else ("ok" if status == "ok" else status)
        rows.append(row)
    rows.sort(key=lambda r: (not r["verdict"].startswith("DRIFT"),
                             -((r.get("value") or 0) / (r.get("threshold") or 1))))
    return rows


def _cards(report: dict[str, Any] | None) -> list[html.Div]:
    if report is None:
        return [card("Latest drift run", "none", "no drift run in this window yet: see docs/monitoring.md")]
    window = report.get("window") or {}
    score = report.get("score") or {}
    html_path = report.get("report_html")
    link: Any = html.A("open the full HTML report", href=f"/reports/{Path(html_path).name}", target="_blank") \
        if html_path else "no HTML report"
    drifted = report.get("drifted_features") or []
    return [
        html.Div([html.Div("Latest drift run", className="card-label"),
                  html.Div((report.get("timestamp") or "")[:16].replace("T", " ") + " UTC",
                           className="card-value small"),
                  html.Div(report.get("message") or report.get("status", ""), className="card-hint")],
                 className="card"),
        card("Applications compared", f"{report.get('n_current', 0):,}",
             f"{(window.get('first_event') or '')[:16]} to {(window.get('last_event') or '')[:16]}"),
        card("Drifted features", f"{len(drifted)} of {report.get('n_features', 0)}",
             ", ".join(drifted[:4]) + (" ..." if len(drifted) > 4 else ""), "bad" if drifted else ""),
        card("Score PSI", fmt(score.get("value"), "{:.3f}"), f"threshold {score.get('threshold', '')}",
             "bad" if score.get("drifted") else ""),
        html.Div([html.Div("Report", className="card-label"), html.Div(link, className="card-value small")],
                 className="card"),
    ]


def register(app: Dash, data: DashboardData) -> None:
    """Wire the page's callbacks."""

    @app.callback(Output("drift-cards", "children"), Output("drift-table", "data"), Output("drift-feature", "options"),
                  Output("drift-history", "figure"), Output("drift-feature", "value"),
                  Input("window", "value"), Input("refresh", "n_intervals"), State("drift-feature", "value"))
    def _update(window: str, _n: int, selected: str | None) -> tuple[Any, ...]:
        report = data.latest_report(window)
        rows = _rows(report) if report else []
        plotted = (report or {}).get("distributions") or {}
        options = [{"label": r["feature"], "value": r["feature"]} for r in rows if r["feature"] in plotted]
        names = [o["value"] for o in options]
        value = selected if selected in names else (names[0] if names else None)
        return _cards(report), rows, options, figures.drift_history(data.reports(window)), value

    @app.callback(Output("drift-distribution", "figure"), Input("drift-feature", "value"),
                  Input("window", "value"), Input("refresh", "n_intervals"))
    def _distribution(name: str | None, window: str, _n: int) -> Any:
        report = data.latest_report(window) or {}
        return figures.feature_distribution(name, (report.get("distributions") or {}).get(name or ""))

    @app.callback(Output("drift-feature", "value", allow_duplicate=True), Input("drift-table", "active_cell"),
                  State("drift-table", "derived_viewport_data"), prevent_initial_call=True)
    def _pick(cell: dict[str, Any] | None, rows: list[dict[str, Any]] | None) -> Any:
        if not cell or not rows or cell.get("row") is None or cell["row"] >= len(rows):
            return None
        return rows[cell["row"]]["feature"]
