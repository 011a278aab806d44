"""Operations: is the scoring service up, fast and error-free?"""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, dcc, html

from monitoring.dashboard import figures
from monitoring.dashboard.components import card, fmt, page, panel
from monitoring.dashboard.data import DashboardData

PATH = "/"


def layout() -> html.Div:
    """The operations page."""
    return page(
        "Operations",
        "Traffic, speed and failures of the scoring API over the selected window. Latency is measured in the "
        "gateway, from request received to answer sent (for async jobs: from submission to result).",
        html.Div(id="ops-cards", className="cards"),
        html.Div([html.Label("Path: ", htmlFor="ops-path"),
                  dcc.RadioItems(id="ops-path", options=[{"label": "all", "value": "all"},
                                                        {"label": "sync (POST /v1/score)", "value": "sync"},
                                                        {"label": "async (RQ jobs)", "value": "async"}],
                                 value="all", inline=True)], className="controls"),
        html.Div([
            panel("ops-throughput", "Scored applications, refused inputs (HTTP 422: the client's data was invalid) "
                                    "and server errors per minute. A sudden drop often means an upstream outage."),
            panel("ops-latency", "Latency percentiles: p50 is the typical request, p95 and p99 the slow tail the "
                                 "alert thresholds watch (sync limit: p95 100 ms by default)."),
            panel("ops-inference", "Time spent in the model itself (encoding + ONNX), per request or batch. If "
                                   "latency rises but this does not, the time goes elsewhere (queue, network)."),
            panel("ops-errors", "Share of requests that failed on our side (red) or were refused as invalid "
                                "(yellow). Errors above 2 % raise a critical alert."),
            panel("ops-queue", "How long async jobs waited in the RQ queue before a worker took them (p95). "
                               "Growing waits mean too few workers for the load."),
        ], className="grid"),
    )


def register(app: Dash, data: DashboardData) -> None:
    """Wire the page's callbacks."""

    @app.callback(Output("ops-cards", "children"), Output("ops-throughput", "figure"), Output("ops-latency", "figure"),
                  Output("ops-inference", "figure"), Output("ops-errors", "figure"), Output("ops-queue", "figure"),
                  Input("window", "value"), Input("refresh", "n_intervals"), Input("ops-path", "value"))
    def _update(window: str, _n: int, path: str) -> tuple[Any, ...]:
        selected = None if path == "all" else path
        buckets, interval = data.operations(window, selected)
        totals = data.totals(window)
        queues = data.queues()
        if queues is None:
            queue_text, queue_hint = "not measured", "no queue to read: set REDIS_URL or GATEWAY_METRICS_URL"
        else:
            depth = sum(q.depth for q in queues)
            ages = [q.oldest_age_s for q in queues if q.oldest_age_s is not None]
            queue_text = f"{depth:,} jobs"
            queue_hint = f"oldest waits {max(ages):.0f} s" if ages else "queue empty"
        error_tone = "bad" if (totals["error_rate"] or 0) > data.settings.error_rate_max else ""
        cards = [
            card("Requests", f"{totals['events']:,}", f"{totals['per_minute']:.2f} per minute on average"),
            card("Error rate", fmt(totals["error_rate"], "{:.2%}"), f"{totals['errors']:,} errors, "
                 f"{totals['invalid']:,} refused inputs", error_tone),
            card("Sync latency p95", fmt(totals["sync_p95"], "{:.1f} ms"), "95 % of sync answers were faster"),
            card("Async latency p95", fmt(totals["async_p95"], "{:.0f} ms"), "submission to result, incl. queue"),
            card("Inference p95", fmt(totals["inference_p95"], "{:.2f} ms"), "model time only"),
            card("Queue now", queue_text, queue_hint),
        ]
        return (cards, figures.throughput(buckets, interval),
                figures.percentiles(buckets, "Latency percentiles (ms)", "latency"),
                figures.percentiles(buckets, "Inference time percentiles (ms)", "inference"),
                figures.error_rate(buckets), figures.queue_wait(buckets))
