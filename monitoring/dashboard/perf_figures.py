"""Plotly figures of the Performance page: figures over time per model version, the reliability curve."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from monitoring.dashboard.figures import COLORS, _layout, empty

VERSION_COLORS = ("#1565c0", "#ef6c00", "#6a1b9a", "#2e7d32", "#c62828", "#00838f")


def _series(reports: Sequence[dict[str, Any]]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Per model version, (run time, figures block) oldest first."""
    series: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for report in sorted(reports, key=lambda r: r.get("timestamp") or ""):
        for version, block in (report.get("per_model_version") or {}).items():
            series.setdefault(version, []).append((report["timestamp"], block))
    return series


def over_time(reports: Sequence[dict[str, Any]], metric: str, title: str, reference: float | None) -> go.Figure:
    """Realised (solid) and estimated (dashed) ``metric`` per run, one colour per model version."""
    series = _series(reports)
    if not series:
        return empty(title, "No performance run in this window")
    fig = go.Figure()
    for i, (version, points) in enumerate(sorted(series.items())):
        color = VERSION_COLORS[i % len(VERSION_COLORS)]
        x = [t for t, _ in points]
        for kind, dash in (("realised", "solid"), ("estimated", "dash")):
            y = [(block.get(kind) or {}).get(metric) for _, block in points]
            fig.add_scatter(x=x, y=y, name=f"{version} {kind}", mode="lines+markers",
                            line={"color": color, "dash": dash})
    if reference is not None:
        fig.add_hline(y=reference, line_dash="dot", line_color=COLORS["reference"],
                      annotation_text="reference (holdout)", annotation_position="top left")
    return _layout(fig, title, metric.replace("_", " "))


def coverage(reports: Sequence[dict[str, Any]]) -> go.Figure:
    """Share of the scored applications with a known outcome, per run and model version."""
    title = "Outcome coverage (% of scored applications with an outcome)"
    series = _series(reports)
    if not series:
        return empty(title, "No performance run in this window")
    fig = go.Figure()
    for i, (version, points) in enumerate(sorted(series.items())):
        y = [100 * b["n_outcomes"] / b["n_scored"] if b.get("n_scored") else None for _, b in points]
        fig.add_scatter(x=[t for t, _ in points], y=y, name=version, mode="lines+markers",
                        line={"color": VERSION_COLORS[i % len(VERSION_COLORS)]})
    return _layout(fig, title, "%")


def reliability(curve: Sequence[dict[str, Any]] | None) -> go.Figure:
    """Observed default rate against mean predicted probability per bin, with the diagonal of perfect calibration."""
    title = "Reliability (latest run, applications with an outcome)"
    if not curve:
        return empty(title, "No outcome known yet")
    top = max(max(b["mean_predicted"] for b in curve), max(b["observed"] for b in curve), 0.05)
    fig = go.Figure()
    fig.add_scatter(x=[0, top], y=[0, top], name="perfectly calibrated", mode="lines",
                    line={"color": COLORS["reference"], "dash": "dot"})
    fig.add_scatter(x=[b["mean_predicted"] for b in curve], y=[b["observed"] for b in curve], name="observed",
                    mode="lines+markers", line={"color": COLORS["current"]},
                    text=[f"{b['n']:,} applications" for b in curve], hovertemplate="%{y:.3f} (%{text})")
    fig = _layout(fig, title, "observed default rate", "mean predicted probability")
    fig.update_layout(hovermode="closest")
    return fig
