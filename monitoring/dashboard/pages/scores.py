"""Scores: what the model decides, compared with what it decided on its training data."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, html

from monitoring.dashboard import figures
from monitoring.dashboard.components import card, fmt, page, panel
from monitoring.dashboard.data import DashboardData

PATH = "/scores"


def layout() -> html.Div:
    """The scores page."""
    return page(
        "Scores and decisions",
        "The model's predicted probability of default for the applications scored in the window. An application "
        "is refused when its score reaches the bundle's threshold (chosen so that a missed default costs 10x a "
        "wrongly refused good client). A distribution moving away from the reference means the applicants, or "
        "the data sent, changed.",
        html.Div(id="scores-cards", className="cards"),
        html.Div([
            panel("scores-distribution", "Share of applications per score band: blue for this window, grey for the "
                                         "training reference. The dashed line is the refusal threshold."),
            panel("scores-trend", "Per time bucket. Top: the band holds the middle 80 % of the scores (p10 to "
                                  "p90), the line is the median score. Bottom: the approval rate. The dotted grey "
                                  "lines are the reference sample's median score and approval rate."),
        ], className="grid"),
    )


def register(app: Dash, data: DashboardData) -> None:
    """Wire the page's callbacks."""

    @app.callback(Output("scores-cards", "children"), Output("scores-distribution", "figure"),
                  Output("scores-trend", "figure"), Input("window", "value"), Input("refresh", "n_intervals"))
    def _update(window: str, _n: int) -> tuple[Any, ...]:
        scores = data.scores(window)
        reference = data.reference_scores()
        decisions = scores["decisions"]
        scored = decisions.get("approved", 0) + decisions.get("refused", 0)
        approval = decisions.get("approved", 0) / scored if scored else None
        buckets, _ = data.operations(window)
        means = [b.mean_score * b.ok for b in buckets if b.mean_score is not None]
        oks = sum(b.ok for b in buckets if b.mean_score is not None)
        cards = [
            card("Scored applications", f"{scored:,}", "status ok in the window"),
            card("Approval rate", fmt(approval, "{:.1%}"),
                 "reference: " + fmt(reference.approval_rate if reference else None, "{:.1%}")),
            card("Mean score", fmt(sum(means) / oks if oks else None, "{:.3f}"), "mean predicted probability"),
            card("Refusal threshold", fmt(reference.threshold if reference else None, "{:.3f}"),
                 "from the model bundle" if reference else "no model bundle found"),
        ]
        return (cards,
                figures.score_distribution(scores["histogram"], reference.shares if reference else None,
                                           reference.threshold if reference else None),
                figures.score_trend(buckets, reference.approval_rate if reference else None,
                                    reference.median if reference else None))
