"""Decision: one decision found by its event id or job id, its reasons as a waterfall and in words."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import parse_qs

import plotly.graph_objects as go
from dash import Dash, Input, Output, State, dcc, html

from monitoring.dashboard.components import card, page
from monitoring.dashboard.data import DashboardData
from monitoring.dashboard.figures import HEIGHT
from monitoring.decision import Decision, DecisionFinder, label, sentences, show_value
from monitoring.exceptions import DecisionNotFoundError

PATH = "/decision"
RAISES, LOWERS, TOTAL = "#c62828", "#2e7d32", "#1565c0"
INTRO = ("Look up one decision by the event_id its answer returned (or the job id of an async request), and read "
         "why the model scored it as it did: the main reasons, in words you can read to the client, and the "
         "waterfall from the average applicant to this application's score.")


def layout() -> html.Div:
    """The decision page."""
    return page(
        "Decision",
        INTRO,
        html.Div([
            dcc.Input(id="decision-id", type="text", placeholder="event id or job id", debounce=True,
                      style={"width": "26em", "marginRight": "0.5em"}),
            html.Button("Find", id="decision-find", n_clicks=0),
        ], className="panel wide"),
        html.Div(id="decision-result"),
    )


def _logit(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log(p / (1 - p))


def waterfall(explanation: dict[str, Any], threshold: float | None) -> go.Figure:
    """From the base value to the score, one step per reason and one for all the other fields.

    The scale is the log-odds (where the steps add up); the right axis reads
    it as a probability of default, and the dashed line is the threshold. The
    bars stand on the bottom of the plot (not on 0, far below on this scale).
    """
    reasons = explanation["reasons"]
    names = ["average applicant", *(label(r["field"]) for r in reasons), "all other fields", "this application"]
    steps = [explanation["base_value"], *(r["contribution"] for r in reasons), explanation["rest"],
             explanation["raw_score"]]
    levels = [explanation["base_value"], explanation["raw_score"]]
    running = explanation["base_value"]
    for step in steps[1:-1]:
        running += step
        levels.append(running)
    if threshold is not None:
        levels.append(_logit(threshold))
    low, high = min(levels), max(levels)
    pad = max(0.3, (high - low) * 0.15)
    floor = low - pad
    fig = go.Figure(go.Waterfall(
        x=names, y=[steps[0] - floor, *steps[1:-1], steps[-1] - floor], base=floor,
        measure=["absolute", *["relative"] * (len(reasons) + 1), "total"],
        increasing={"marker": {"color": RAISES}}, decreasing={"marker": {"color": LOWERS}},
        totals={"marker": {"color": TOTAL}}, connector={"line": {"color": "#90a4ae"}},
        text=[f"{v:+.2f}" if 0 < i < len(steps) - 1 else f"{v:.2f}" for i, v in enumerate(steps)],
        textposition="outside", hovertext=[f"{n}: {v:+.3f}" for n, v in zip(names, steps, strict=True)],
        hoverinfo="text",
    ))
    if threshold is not None:
        fig.add_hline(y=_logit(threshold), line_dash="dash", line_color="#37474f",
                      annotation_text=f"threshold {threshold:.1%}: refused at or above",
                      annotation_position="bottom right")
    ticks = [t for t in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9) if floor <= _logit(t) <= high + pad]
    fig.update_layout(
        template="plotly_white", height=HEIGHT + 80, margin={"l": 60, "r": 60, "t": 45, "b": 110},
        title={"text": "From the average applicant to this application (log-odds of default)", "x": 0.01,
               "font": {"size": 15}},
        yaxis={"title": "log-odds of default", "range": [floor, high + pad]},
        yaxis2={"overlaying": "y", "side": "right", "range": [floor, high + pad],
                "tickvals": [_logit(t) for t in ticks], "ticktext": [f"{t:.0%}" for t in ticks],
                "title": "probability", "showgrid": False},
        showlegend=False,
    )
    fig.add_trace(go.Scatter(x=[names[0]], y=[explanation["base_value"]], yaxis="y2", mode="markers",
                             marker={"opacity": 0}, hoverinfo="skip"))
    return fig


def _reasons_table(explanation: dict[str, Any]) -> html.Table:
    header = html.Tr([html.Th(h) for h in ("field", "value", "effect", "contribution (log-odds)")])
    rows = [html.Tr([html.Td(f"{label(r['field'])} ({r['field']})"), html.Td(show_value(r["field"], r["value"])),
                     html.Td(r["direction"], className="raises" if r["contribution"] > 0 else "lowers"),
                     html.Td(f"{r['contribution']:+.3f}")]) for r in explanation["reasons"]]
    rest = f"{explanation['rest']:+.3f}"
    rows.append(html.Tr([html.Td("all other fields"), html.Td(""), html.Td(""), html.Td(rest)]))
    return html.Table([header, *rows], className="reasons", id="decision-reasons")


def render(decision: Decision) -> html.Div:
    """The decision's cards, words, waterfall and reasons."""
    event = decision.event
    score, threshold = event.get("score"), event.get("threshold")
    tone = "bad" if event.get("decision") == "refused" else "good"
    cards = html.Div([
        card("Decision", str(event.get("decision") or event.get("status")), f"event {event.get('event_id')}", tone),
        card("Probability of default", f"{score:.1%}" if score is not None else "n/a",
             f"threshold {threshold:.1%}" if threshold is not None else ""),
        card("Model", str(event.get("model_version")), f"{event.get('path')} request, {event.get('timestamp')}"),
    ], className="cards")
    words = [html.P(line) for line in sentences(decision)]
    if decision.computed:
        words.append(html.P("These reasons were computed now from the stored application (the request did not ask "
                            "for them), with the same model.", className="caption"))
    if decision.note:
        words.append(html.P(decision.note, className="caption"))
    if decision.others:
        words.append(html.P(f"This job scored {len(decision.others) + 1} applications; shown: the first. The others' "
                            f"event ids: {', '.join(decision.others[:20])}" + (" ..." if len(decision.others) > 20
                                                                                else ""), className="caption"))
    children: list[Any] = [cards, html.Div(words, className="panel wide", id="decision-words")]
    if decision.explanation is not None:
        children += [
            html.Div([dcc.Graph(id="decision-waterfall", figure=waterfall(decision.explanation, threshold),
                                config={"displaylogo": False}),
                      html.P("Each bar is one field's contribution: red raises the risk, green lowers it. They add up "
                             "from the average applicant (left) to this application's score (right, blue); the "
                             "dashed line is the refusal threshold. The right axis reads the scale as a probability.",
                             className="caption")], className="panel wide"),
            html.Div(_reasons_table(decision.explanation), className="panel wide"),
        ]
    return html.Div(children)


def register(app: Dash, data: DashboardData) -> None:
    """Wire the page's callbacks."""
    finder = DecisionFinder(data.store, data.settings.model_dir)

    @app.callback(Output("decision-id", "value"), Input("url", "search"), State("decision-id", "value"))
    def _from_url(search: str | None, current: str | None) -> str | None:
        found = parse_qs((search or "").lstrip("?")).get("id")
        return found[0] if found else current

    @app.callback(Output("decision-result", "children"), Input("decision-find", "n_clicks"),
                  Input("decision-id", "value"))
    def _find(_clicks: int, key: str | None) -> Any:
        if not key or not key.strip():
            return html.P("Enter the event_id of an answer, or the job id of an async request.", className="caption")
        try:
            return render(finder.find(key))
        except DecisionNotFoundError as exc:
            return html.P(str(exc), className="caption", id="decision-missing")
