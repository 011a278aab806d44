"""Performance: were the decisions right (realised), how right do they look before outcomes come (estimated)?"""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, dash_table, html

from monitoring.dashboard import perf_figures
from monitoring.dashboard.components import card, fmt, page, panel
from monitoring.dashboard.data import DashboardData

PATH = "/performance"
FAIRNESS_COLUMNS = [
    {"name": "attribute", "id": "attribute"}, {"name": "group", "id": "group"},
    {"name": "applications", "id": "n", "type": "numeric"}, {"name": "approval rate", "id": "approval_rate"},
    {"name": "TPR (defaulters refused)", "id": "tpr"}, {"name": "FPR (good clients refused)", "id": "fpr"},
    {"name": "with outcome", "id": "n_outcomes", "type": "numeric"},
]


def layout() -> html.Div:
    """The performance page."""
    return page(
        "Performance",
        "Realised figures (solid lines) come from the outcomes sent to POST /v1/outcomes, over the applications "
        "whose outcome is known. Estimated figures (dashed) are expected from the calibrated probabilities of every "
        "scored application (CBPE), outcome or not: they are available at once, and are right as long as the "
        "calibration holds, which the reliability curve checks. Cost per application = (10 x approved defaulters "
        "+ refused good clients) / applications, at the served threshold; the dotted line is the model's holdout "
        "figure. One colour per model version.",
        html.Div(id="performance-cards", className="cards"),
        html.Div([
            panel("performance-cost", "Lower is better. An estimated cost above the reference says the applicants "
                                      "are riskier than in training; a realised cost above the estimated one says "
                                      "the model is worse than it believes (check the reliability curve)."),
            panel("performance-auc", "How well the score ranks defaulters above good clients (0.5: no better than "
                                     "chance). The estimate cannot see a change in what makes clients default."),
            panel("performance-coverage", "Outcomes arrive months after the decision: realised figures stand on "
                                          "this share of the applications only."),
            panel("performance-reliability", "Points on the diagonal: the probabilities are calibrated and the "
                                             "estimates can be trusted. Points above it: more defaults than "
                                             "predicted."),
            html.Div([
                html.H3("Fairness (latest run)"),
                html.P(id="performance-ratios", className="caption"),
                dash_table.DataTable(  # type: ignore[attr-defined]
                    id="performance-fairness", columns=FAIRNESS_COLUMNS, data=[], sort_action="native",
                    page_size=20, style_table={"overflowX": "auto"},
                    style_cell={"fontFamily": "inherit", "fontSize": 13, "padding": "4px 8px", "textAlign": "left"},
                    style_header={"fontWeight": "600", "backgroundColor": "#eceff1"},
                ),
            ], className="panel wide"),
        ], className="grid"),
    )


def _rate(value: float | None) -> str:
    return fmt(None if value is None else 100 * value, "{:.1f} %")


def fairness_rows(fairness: dict[str, Any]) -> list[dict[str, Any]]:
    """One table row per (attribute, group) of a report's ``fairness``."""
    rows = []
    for attribute in ("CODE_GENDER", "age_band"):
        for group, values in (fairness.get(attribute) or {}).items():
            rows.append({"attribute": attribute, "group": group, "n": values.get("n"),
                         "approval_rate": _rate(values.get("approval_rate")), "tpr": _rate(values.get("tpr")),
                         "fpr": _rate(values.get("fpr")), "n_outcomes": values.get("n_outcomes")})
    return rows


def _cards(report: dict[str, Any] | None) -> list[html.Div]:
    if report is None:
        return [card("Latest performance run", "none",
                     "no performance run in this window yet: see docs/monitoring.md")]
    realised, estimated = report.get("realised") or {}, report.get("estimated") or {}
    reference = report.get("reference") or {}
    scored, outcomes = report.get("n_scored", 0), report.get("n_outcomes", 0)
    ratios = (report.get("fairness") or {}).get("disparate_impact") or {}
    lowest = min((r for r in ratios.values() if r is not None), default=None)
    return [
        card("Applications", f"{scored:,}", f"{outcomes:,} with an outcome "
                                            f"({fmt(100 * outcomes / scored if scored else None, '{:.0f}')} %), "
                                            f"{report.get('n_unmatched', 0):,} outcomes unmatched"),
        card("Realised cost / application", fmt(realised.get("cost_per_application"), "{:.3f}"),
             f"reference {fmt(reference.get('cost_per_application'), '{:.3f}')}"),
        card("Estimated cost / application", fmt(estimated.get("cost_per_application"), "{:.3f}"),
             "CBPE, every scored application"),
        card("AUC realised / estimated",
             f"{fmt(realised.get('auc'), '{:.3f}')} / {fmt(estimated.get('auc'), '{:.3f}')}",
             f"reference {fmt(reference.get('auc'), '{:.3f}')}"),
        card("Lowest disparate impact", fmt(lowest, "{:.2f}"), "approval-rate ratio; below 0.8 fails four-fifths",
             "bad" if lowest is not None and lowest < 0.8 else ""),
    ]


def register(app: Dash, data: DashboardData) -> None:
    """Wire the page's callbacks."""

    @app.callback(Output("performance-cards", "children"), Output("performance-cost", "figure"),
                  Output("performance-auc", "figure"), Output("performance-coverage", "figure"),
                  Output("performance-reliability", "figure"), Output("performance-fairness", "data"),
                  Output("performance-ratios", "children"), Input("window", "value"), Input("refresh", "n_intervals"))
    def _update(window: str, _n: int) -> tuple[Any, ...]:
        span, _ = data.window(window)
        reports = data.store.list_performance_reports(limit=500, window=span)
        latest = reports[0] if reports else None
        reference = (latest or {}).get("reference") or {}
        fairness = (latest or {}).get("fairness") or {}
        ratios = fairness.get("disparate_impact") or {}
        ratio_text = ("Disparate impact (lowest approval rate over the highest, groups of 100 or more): "
                      f"CODE_GENDER {fmt(ratios.get('CODE_GENDER'), '{:.2f}')}, "
                      f"age band {fmt(ratios.get('age_band'), '{:.2f}')}." if latest else "")
        return (_cards(latest),
                perf_figures.over_time(reports, "cost_per_application", "Cost per application",
                                       reference.get("cost_per_application")),
                perf_figures.over_time(reports, "auc", "AUC", reference.get("auc")),
                perf_figures.coverage(reports),
                perf_figures.reliability(((latest or {}).get("realised") or {}).get("reliability")),
                fairness_rows(fairness), ratio_text)
