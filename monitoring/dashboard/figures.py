"""Plotly figures of the pages; each one has an explicit "no data" state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from shared.store.base import OpsBucket

COLORS = {"ok": "#2e7d32", "invalid": "#f9a825", "errors": "#c62828", "p50": "#1565c0", "p95": "#ef6c00",
          "p99": "#6a1b9a", "reference": "#90a4ae", "current": "#1565c0", "drift": "#c62828"}
HEIGHT = 320


def _layout(fig: go.Figure, title: str, y_title: str = "", x_title: str = "") -> go.Figure:
    fig.update_layout(title={"text": title, "x": 0.01, "font": {"size": 15}}, template="plotly_white", height=HEIGHT,
                      margin={"l": 60, "r": 20, "t": 45, "b": 45}, legend={"orientation": "h", "y": -0.2},
                      yaxis_title=y_title, xaxis_title=x_title, hovermode="x unified")
    return fig


def empty(title: str, message: str = "No data in this window") -> go.Figure:
    """A titled, axis-free figure that says why it is empty."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font={"size": 14, "color": "#607d8b"},
                       xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title)


def _has(buckets: Sequence[OpsBucket]) -> bool:
    return any(b.count for b in buckets)


def throughput(buckets: Sequence[OpsBucket], interval: timedelta) -> go.Figure:
    """Applications per minute, stacked by outcome."""
    title = "Throughput (applications per minute)"
    if not _has(buckets):
        return empty(title)
    minutes = interval.total_seconds() / 60
    x = [b.start for b in buckets]
    fig = go.Figure()
    for name, attr in (("scored", "ok"), ("refused input (422)", "invalid"), ("errors", "errors")):
        color = COLORS["ok" if attr == "ok" else attr]
        fig.add_bar(x=x, y=[getattr(b, attr) / minutes for b in buckets], name=name, marker_color=color)
    fig.update_layout(barmode="stack")
    return _layout(fig, title, "per minute")


def percentiles(buckets: Sequence[OpsBucket], title: str, prefix: str) -> go.Figure:
    """p50 / p95 / p99 lines of ``latency`` or ``inference`` over time, in ms."""
    x = [b.start for b in buckets]
    fig = go.Figure()
    for q in ("p50", "p95", "p99"):
        values = [getattr(b, f"{prefix}_{q}") for b in buckets]
        if any(v is not None for v in values):
            fig.add_scatter(x=x, y=values, name=q, mode="lines+markers", line={"color": COLORS[q]},
                            connectgaps=False)
    if not fig.data:
        return empty(title)
    return _layout(fig, title, "milliseconds")


def error_rate(buckets: Sequence[OpsBucket]) -> go.Figure:
    """Share of errors and of refused inputs per bucket, in %."""
    title = "Error rate (% of requests)"
    if not _has(buckets):
        return empty(title)
    x = [b.start for b in buckets]
    fig = go.Figure()
    fig.add_scatter(x=x, y=[100 * b.errors / b.count if b.count else None for b in buckets], name="server errors",
                    mode="lines+markers", line={"color": COLORS["errors"]})
    fig.add_scatter(x=x, y=[100 * b.invalid / b.count if b.count else None for b in buckets],
                    name="refused inputs (422)", mode="lines+markers", line={"color": COLORS["invalid"]})
    return _layout(fig, title, "%")


def queue_wait(buckets: Sequence[OpsBucket]) -> go.Figure:
    """p95 of the time async jobs waited in the queue."""
    title = "Queue wait of async jobs (p95, ms)"
    values = [b.queue_wait_p95 for b in buckets]
    if not any(v is not None for v in values):
        return empty(title, "No async job in this window")
    fig = go.Figure(go.Scatter(x=[b.start for b in buckets], y=values, name="p95", mode="lines+markers",
                               line={"color": COLORS["p95"]}))
    return _layout(fig, title, "milliseconds")


def score_distribution(histogram: Sequence[tuple[float, float, int]], reference: Sequence[float] | None,
                       threshold: float | None) -> go.Figure:
    """Share of applications per score bin, window vs training reference."""
    title = "Score distribution: this window vs training reference"
    total = sum(c for _, _, c in histogram)
    if not total:
        return empty(title)
    x = [(lo + hi) / 2 for lo, hi, _ in histogram]
    width = histogram[0][1] - histogram[0][0]
    fig = go.Figure()
    if reference:
        fig.add_bar(x=x, y=[100 * s for s in reference], width=width, name="training reference",
                    marker_color=COLORS["reference"], opacity=0.6)
    fig.add_bar(x=x, y=[100 * c / total for _, _, c in histogram], width=width, name="this window",
                marker_color=COLORS["current"], opacity=0.6)
    if threshold is not None:
        fig.add_vline(x=threshold, line_dash="dash", line_color=COLORS["drift"],
                      annotation_text=f"refusal threshold {threshold:.3f}")
    fig.update_layout(barmode="overlay", hovermode="x")
    return _layout(fig, title, "% of applications", "predicted probability of default")


def score_trend(buckets: Sequence[OpsBucket], reference_approval: float | None,
                reference_median: float | None = None) -> go.Figure:
    """Per bucket: the score spread (p10-p90 band and median) above, the approval rate below."""
    title = "Score percentiles and approval rate over time"
    scored = [b for b in buckets if b.approved + b.refused]
    if not scored:
        return empty(title)
    x = [b.start for b in scored]
    band = COLORS["current"]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.62, 0.38], vertical_spacing=0.06)
    # the band: p10 first (no line, no legend entry), then p90 filled down to it; hover names p10 and p90
    fig.add_scatter(x=x, y=[b.score_p10 for b in scored], name="score p10", mode="lines", showlegend=False,
                    line={"width": 0, "color": band}, hovertemplate="p10: %{y:.3f}<extra></extra>", row=1, col=1)
    fig.add_scatter(x=x, y=[b.score_p90 for b in scored], name="score p10-p90", mode="lines", fill="tonexty",
                    fillcolor="rgba(21, 101, 192, 0.18)", line={"width": 0, "color": band},
                    hovertemplate="p90: %{y:.3f}<extra></extra>", row=1, col=1)
    fig.add_scatter(x=x, y=[b.score_p50 for b in scored], name="median score", mode="lines",
                    line={"color": band}, hovertemplate="%{y:.3f}", row=1, col=1)
    fig.add_scatter(x=x, y=[100 * b.approved / (b.approved + b.refused) for b in scored], name="approval rate (%)",
                    mode="lines", line={"color": COLORS["ok"]}, hovertemplate="%{y:.1f} %", row=2, col=1)
    if reference_median is not None:
        fig.add_hline(y=reference_median, line_dash="dot", line_color=COLORS["reference"], row=1, col=1,
                      annotation_text="reference median", annotation_position="top left")
    if reference_approval is not None:
        fig.add_hline(y=100 * reference_approval, line_dash="dot", line_color=COLORS["reference"], row=2, col=1,
                      annotation_text="reference", annotation_position="top left")
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="approved %", row=2, col=1)
    return _layout(fig, title, "score")  # the first y axis: the score plot's


def drift_history(reports: Sequence[dict[str, Any]]) -> go.Figure:
    """Share of drifted features and score PSI, one point per drift run."""
    title = "Drift runs: share of drifted features and score PSI"
    runs = [r for r in reversed(reports) if r.get("status") == "ok"]
    if not runs:
        return empty(title, "No completed drift run in this window")
    # plotted at the end of the compared window (a re-run over a past period lands where it belongs)
    x = [(r.get("window") or {}).get("last_event") or r["timestamp"] for r in runs]
    fig = go.Figure()
    fig.add_scatter(x=x, y=[100 * (r.get("share_drifted") or 0) for r in runs], name="drifted features (%)",
                    mode="lines+markers", line={"color": COLORS["drift"]})
    fig.add_scatter(x=x, y=[(r.get("score") or {}).get("value") for r in runs], name="score PSI",
                    mode="lines+markers", line={"color": COLORS["current"]}, yaxis="y2")
    fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "title": "PSI", "showgrid": False})
    return _layout(fig, title, "% of features")


def feature_distribution(name: str | None, distribution: dict[str, Any] | None) -> go.Figure:
    """Reference vs current shares of one feature, as the latest drift run saw them."""
    title = f"{name}: reference vs current" if name else "Feature distribution"
    if not name or not distribution:
        return empty(title, "Pick a feature with enough data in the table")
    fig = go.Figure()
    if distribution.get("type") == "categorical":
        x: list[Any] = distribution["labels"]
        extra: dict[str, Any] = {}
        x_title = ""
    else:
        edges = distribution["edges"]
        x = [(edges[i] + edges[i + 1]) / 2 for i in range(len(edges) - 1)]
        extra = {"width": (edges[1] - edges[0]) * 0.45}
        x_title = "value (the end bands also hold the values beyond them)"
    fig.add_bar(x=x, y=[100 * s for s in distribution["reference"]], name="training reference",
                marker_color=COLORS["reference"], **extra)
    fig.add_bar(x=x, y=[100 * s for s in distribution["current"]], name="drift window",
                marker_color=COLORS["current"], **extra)
    fig.update_layout(barmode="group", hovermode="x")
    return _layout(fig, title, "% of non-missing values", x_title)
