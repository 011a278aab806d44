"""Resources: CPU, memory and file descriptors of every service process, the host, Redis and Elasticsearch."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from dash import Dash, Input, Output, html

from monitoring.dashboard import figures
from monitoring.dashboard.components import card, fmt, page, panel
from monitoring.dashboard.data import DashboardData
from shared.resources import gpu_present

PATH = "/resources"
MIB = 1024 * 1024


def layout() -> html.Div:
    """The resources page."""
    return page(
        "Resources",
        "What each service process uses, sampled once a minute by the monitoring scheduler: one line per "
        "process (service and pid), the host's CPU and memory, Redis memory and each Elasticsearch node's JVM "
        "heap and disk. Alerts fire on memory growth against the last hour, sustained CPU saturation, a JVM heap "
        "over 85 % and a disk past Elasticsearch's watermarks (85 %, 90 %).",
        html.Div(id="res-cards", className="cards"),
        html.Div([
            panel("res-memory", "Resident memory of each process. A line that only climbs is a leak; each gateway "
                                "and worker process holds one copy of the model."),
            panel("res-cpu", "CPU of each process, in percent of one core (100 = one core busy)."),
            panel("res-host", "The host: CPU in percent of all cores, memory used in percent."),
            panel("res-servers", "Elasticsearch JVM heap and disk used per node, in percent; alerts at 85 %."),
        ], className="grid"),
        html.P(id="res-gpu", className="caption"),
    )


def _series(samples: Sequence[dict[str, Any]], field: str, scale: float = 1.0,
            name: Any = None) -> dict[str, tuple[list[str], list[float]]]:
    lines: dict[str, tuple[list[str], list[float]]] = defaultdict(lambda: ([], []))
    for s in samples:
        value = s.get(field)
        if value is None:
            continue
        key = name(s) if name else f"{s.get('service')} {s.get('pid')}"
        lines[key][0].append(s["timestamp"])
        lines[key][1].append(float(value) / scale)
    return dict(sorted(lines.items()))


def _lines(lines: dict[str, tuple[list[str], list[float]]], title: str, y_title: str) -> go.Figure:
    if not lines:
        return figures.empty(title, "No resource sample in this window (the scheduler samples once a minute)")
    fig = go.Figure([go.Scatter(x=x, y=y, mode="lines", name=key) for key, (x, y) in lines.items()])
    return figures._layout(fig, title, y_title)  # the other pages' look


def register(app: Dash, data: DashboardData) -> None:
    """Wire the page's callbacks."""

    @app.callback(Output("res-cards", "children"), Output("res-memory", "figure"), Output("res-cpu", "figure"),
                  Output("res-host", "figure"), Output("res-servers", "figure"), Output("res-gpu", "children"),
                  Input("window", "value"), Input("refresh", "n_intervals"))
    def _update(window: str, _n: int) -> tuple[Any, ...]:
        span, _ = data.window(window)
        samples = data.store.list_resources(span)
        by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for s in samples:
            by_kind[s["kind"]].append(s)
        processes, hosts, nodes = by_kind["process"], by_kind["host"], by_kind["elasticsearch"]
        newest = max((s["timestamp"] for s in processes), default=None)
        current = [s for s in processes if s["timestamp"] == newest]
        host = hosts[-1] if hosts else {}
        heap = max((n.get("heap_percent") or 0 for n in nodes[-3:]), default=None) if nodes else None
        redis = by_kind["redis"][-1] if by_kind["redis"] else {}
        cards = [
            card("Processes", f"{len(current):,}", ", ".join(sorted({str(s.get('service')) for s in current}))
                 or "no sample yet"),
            card("Memory of the processes", fmt(sum(s.get("rss_bytes") or 0 for s in current) / MIB
                                                if current else None, "{:,.0f} MiB"), "resident, all processes"),
            card("Host CPU", fmt(host.get("cpu_percent"), "{:.0f} %"), f"{host.get('cpus', '?')} cores"),
            card("Host memory", fmt(host.get("memory_percent"), "{:.0f} %"), "used"),
            card("Redis memory", fmt((redis.get("used_memory_bytes") or 0) / MIB if redis else None,
                                     "{:,.1f} MiB"), "used_memory (INFO)"),
            card("ES heap", fmt(heap, "{:.0f} %"), "highest node", "bad" if heap and heap >= 85 else ""),
            card("GPU", "none" if not gpu_present() else "present", "no GPU metric: tree scoring runs on CPU"),
        ]
        host_lines = {**_series(hosts, "cpu_percent", name=lambda s: "host CPU %"),
                      **_series(hosts, "memory_percent", name=lambda s: "host memory %")}
        server_lines = {**_series(nodes, "heap_percent", name=lambda s: f"{s.get('node')} heap %"),
                        **_series(nodes, "disk_used_percent", name=lambda s: f"{s.get('node')} disk %")}
        gpu = ("No GPU is present on this host: the page shows no GPU metric (absent, not zero)."
               if not gpu_present() else "A GPU device is present; the services do not use it.")
        return (cards,
                _lines(_series(processes, "rss_bytes", MIB), "Resident memory per process (MiB)", "MiB"),
                _lines(_series(processes, "cpu_percent"), "CPU per process (% of one core)", "%"),
                _lines(host_lines, "Host CPU and memory (%)", "%"),
                _lines(server_lines, "Elasticsearch heap and disk (%)", "%"),
                gpu)
