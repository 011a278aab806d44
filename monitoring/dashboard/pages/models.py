"""Models: champion and challenger side by side on the same applications, and the registry's history."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from dash import Dash, Input, Output, dash_table, html

from monitoring.dashboard.components import card, fmt, page, panel
from monitoring.dashboard.data import DashboardData
from monitoring.models_compare import compare_shadow

PATH = "/models"
SHADOW_LIMIT = 20_000
HISTORY_COLUMNS = [
    {"name": "time (UTC)", "id": "time"}, {"name": "action", "id": "action"}, {"name": "from", "id": "from"},
    {"name": "to", "id": "to"}, {"name": "forced", "id": "forced"}, {"name": "gate", "id": "gate"},
    {"name": "AUC champion / candidate", "id": "auc"}, {"name": "cost champion / candidate", "id": "cost"},
    {"name": "DI gender", "id": "di_gender"}, {"name": "DI age", "id": "di_age"},
]

PERFORMANCE_COLUMNS = [
    {"name": "model version", "id": "version"}, {"name": "scored", "id": "n_scored"},
    {"name": "with outcome", "id": "n_outcomes"}, {"name": "cost realised", "id": "cost_realised"},
    {"name": "cost estimated", "id": "cost_estimated"}, {"name": "AUC realised", "id": "auc_realised"},
    {"name": "AUC estimated", "id": "auc_estimated"}, {"name": "DI gender", "id": "di_gender"},
    {"name": "DI age", "id": "di_age"},
]


def performance_rows(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row per model version of a performance report (realised, estimated, fairness)."""
    rows = []
    for version, block in ((report or {}).get("per_model_version") or {}).items():
        realised, estimated = block.get("realised") or {}, block.get("estimated") or {}
        ratios = (block.get("fairness") or {}).get("disparate_impact") or {}
        rows.append({
            "version": version, "n_scored": block.get("n_scored"), "n_outcomes": block.get("n_outcomes"),
            "cost_realised": fmt(realised.get("cost_per_application"), "{:.4f}"),
            "cost_estimated": fmt(estimated.get("cost_per_application"), "{:.4f}"),
            "auc_realised": fmt(realised.get("auc"), "{:.4f}"), "auc_estimated": fmt(estimated.get("auc"), "{:.4f}"),
            "di_gender": fmt(ratios.get("CODE_GENDER"), "{:.3f}"), "di_age": fmt(ratios.get("age_band"), "{:.3f}"),
        })
    return rows


def layout() -> html.Div:
    """The models page."""
    return page(
        "Models",
        "The champion answers every application; the challenger, when one is registered, scores a share of the "
        "same applications in its shadow (SHADOW_RATE) without changing any answer. Decision agreement is the "
        "share of those applications both models decide alike; the disagreements say which way the challenger "
        "would move the approvals. A challenger becomes champion only through `python -m training promote`, "
        "whose gate (AUC, cost per application, disparate impact on a fixed evaluation set) is in the history.",
        html.Div(id="models-cards", className="cards"),
        panel("models-scores", "Score distributions of the champion and the challenger on the same shadowed "
                               "applications. Curves that overlap mean the challenger ranks like the champion; "
                               "a shift moves the approval rate at the threshold."),
        html.Div(id="models-disagreements", className="panel"),
        html.H3("Performance per model version"),
        html.P("From the newest performance run of the window: realised figures over the applications whose "
               "outcome is known, estimated ones (from the calibrated probabilities) over all of them, and the "
               "disparate-impact ratios. Empty until outcomes are sent (POST /v1/outcomes) and the scheduler "
               "has run a performance report.", className="caption"),
        html.Div(dash_table.DataTable(  # type: ignore[attr-defined]
            id="models-performance", columns=PERFORMANCE_COLUMNS, data=[],
            style_cell={"fontFamily": "inherit", "fontSize": 13, "padding": "4px 8px", "textAlign": "left"},
            style_header={"fontWeight": "600", "backgroundColor": "#eceff1"},
        ), className="panel wide"),
        html.H3("Promotion history"),
        html.Div(dash_table.DataTable(  # type: ignore[attr-defined]
            id="models-history", columns=HISTORY_COLUMNS, data=[], page_size=15,
            style_cell={"fontFamily": "inherit", "fontSize": 13, "padding": "4px 8px", "textAlign": "left"},
            style_header={"fontWeight": "600", "backgroundColor": "#eceff1"},
            style_data_conditional=[{"if": {"filter_query": '{forced} = "yes"'}, "backgroundColor": "#fff8e1"},
                                    {"if": {"filter_query": '{action} = "refused"'}, "color": "#b71c1c"}],
        ), className="panel wide"),
        html.P(id="models-empty", className="caption"),
    )


def _pair(checks: list[dict[str, Any]], name: str) -> str:
    for check in checks:
        if check.get("name") == name:
            return f"{fmt(check.get('champion'), '{:.4f}')} / {fmt(check.get('candidate'), '{:.4f}')}"
    return ""


def history_rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The history table's rows from the stored model events."""
    rows = []
    for event in events:
        gate = event.get("gate") or {}
        checks = gate.get("checks") or []
        rows.append({
            "time": (event.get("timestamp") or "")[:19].replace("T", " "), "action": event.get("action"),
            "from": event.get("from_version") or "", "to": event.get("to_version") or "",
            "forced": "yes" if event.get("forced") else "",
            "gate": "" if not gate else ("passed" if gate.get("passed") else "refused"),
            "auc": _pair(checks, "AUC"), "cost": _pair(checks, "cost per application"),
            "di_gender": _pair(checks, "disparate impact CODE_GENDER"),
            "di_age": _pair(checks, "disparate impact age_band"),
        })
    return rows


def _figure(result: dict[str, Any]) -> go.Figure:
    edges = result["histogram"]["edges"]
    centers = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
    figure = go.Figure()
    for name, color in (("champion", "#1565c0"), ("challenger", "#ef6c00")):
        versions = result[f"{name}_versions"]
        label = f"{name} ({', '.join(versions)})" if versions else name
        figure.add_bar(x=centers, y=result["histogram"][name], name=label, marker_color=color, opacity=0.6)
    figure.update_layout(barmode="overlay", height=320, margin={"l": 40, "r": 10, "t": 10, "b": 40},
                         xaxis_title="probability of default", yaxis_title="applications",
                         legend={"orientation": "h", "y": -0.25})
    return figure


def register(app: Dash, data: DashboardData) -> None:
    """Wire the page's callbacks."""

    @app.callback(Output("models-cards", "children"), Output("models-scores", "figure"),
                  Output("models-disagreements", "children"), Output("models-history", "data"),
                  Output("models-performance", "data"), Output("models-empty", "children"),
                  Input("window", "value"), Input("refresh", "n_intervals"))
    def _update(window: str, _n: int) -> tuple[Any, ...]:
        time_window, _ = data.window(window)
        result = compare_shadow(data.store.shadow_events(time_window, SHADOW_LIMIT))
        history = data.store.list_model_events(limit=100)
        champion = next((e.get("to_version") for e in history if e.get("action") in ("promote", "rollback")), None)
        agreement = result["decision_agreement"]
        cards = [
            card("Champion", f"v{champion}" if champion else "n/a", "registry version serving now (last move)"),
            card("Shadowed", f"{result['n']:,}", "applications scored by both models in the window"),
            card("Decision agreement", fmt(agreement * 100 if agreement is not None else None, "{:.1f} %"),
                 "same decision from both", "bad" if agreement is not None and agreement < 0.9 else ""),
            card("Mean |score difference|", fmt(result["score_mean_abs_diff"], "{:.4f}"), "probability points"),
        ]
        approvals = result["approval_rate"]
        disagreements = html.Div([
            html.H3("Where they disagree"),
            html.Ul([html.Li(f"{k}: {v:,}") for k, v in result["disagreements"].items()] or
                    [html.Li("no disagreement" if result["n"] else "no shadowed application in this window")]),
            html.P(f"Approval rate on these applications: champion {fmt(_pct(approvals['champion']), '{:.1f} %')}, "
                   f"challenger {fmt(_pct(approvals['challenger']), '{:.1f} %')}.", className="caption"),
        ])
        empty = "" if history else "No registry move recorded yet: `python -m training promote` records one."
        reports = data.store.list_performance_reports(limit=1, window=time_window)
        performance = performance_rows(reports[0] if reports else None)
        return cards, _figure(result), disagreements, history_rows(history), performance, empty


def _pct(value: float | None) -> float | None:
    return None if value is None else value * 100
