"""Small building blocks shared by the pages: headline cards, captions, graphs."""

from __future__ import annotations

from typing import Any

from dash import dcc, html


def fmt(value: float | None, pattern: str = "{:,.1f}", missing: str = "n/a") -> str:
    """Format a number, or say it is not available."""
    return missing if value is None else pattern.format(value)


def card(label: str, value: str, hint: str = "", tone: str = "") -> html.Div:
    """A headline figure with its label and a one-line explanation."""
    return html.Div([html.Div(label, className="card-label"), html.Div(value, className=f"card-value {tone}"),
                     html.Div(hint, className="card-hint")], className="card")


def panel(graph_id: str, caption: str) -> html.Div:
    """A graph with a caption that says what it shows and how to read it."""
    return html.Div([dcc.Graph(id=graph_id, config={"displaylogo": False}), html.P(caption, className="caption")],
                    className="panel")


def page(title: str, intro: str, *children: Any) -> html.Div:
    """A page: title, one-paragraph purpose, content."""
    return html.Div([html.H2(title), html.P(intro, className="intro"), *children], className="page")
