"""The Dash application: a shell (title, navigation, window selector, auto-refresh) and its pages.

``python -m monitoring dashboard`` serves it on ``DASH_HOST:DASH_PORT``
(127.0.0.1:8050 by default) with a threaded WSGI server, behind HTTP basic
authentication (users from ``DASHBOARD_USERS``; ``ALLOW_OPEN_DASHBOARD=true``
opens it, in development only).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from dash import Dash, Input, Output, dcc, html
from flask import abort, send_from_directory

from monitoring.dashboard.auth import protect
from monitoring.dashboard.data import DEFAULT_WINDOW, WINDOWS, DashboardData
from monitoring.dashboard.pages import (
    alerts,
    decision,
    drift,
    events,
    models,
    operations,
    performance,
    resources,
    scores,
)
from monitoring.dashboard.style import INDEX_STRING
from monitoring.settings import MonitoringSettings

logger = logging.getLogger("monitoring.dashboard")
PAGES = [("Operations", operations), ("Scores", scores), ("Drift", drift), ("Performance", performance),
         ("Alerts", alerts), ("Events", events), ("Models", models), ("Decision", decision),
         ("Resources", resources)]
_REPORT_NAME = re.compile(r"drift-[0-9A-Za-z-]+\.html")


def _shell(settings: MonitoringSettings) -> html.Div:
    nav = [dcc.Link(title, href=module.PATH, className="nav-link", id=f"nav-{module.__name__.rsplit('.', 1)[1]}")
           for title, module in PAGES]
    return html.Div([
        dcc.Location(id="url"),
        dcc.Interval(id="refresh", interval=settings.dash_refresh_seconds * 1000),
        html.Header([
            html.Div([html.H1("Credit Express - scoring monitor"),
                      html.Span("Pret a Depenser, credit scoring model in production", className="subtitle")]),
            html.Nav(nav),
            html.Div([html.Label("Window: ", htmlFor="window"),
                      dcc.RadioItems(id="window", options=[{"label": k, "value": k} for k in WINDOWS],
                                     value=DEFAULT_WINDOW, inline=True, persistence=True)], className="window"),
        ]),
        html.Main(id="page"),
        html.Footer(id="updated", children=f"auto-refresh every {settings.dash_refresh_seconds} s"),
    ])


def create_app(settings: MonitoringSettings, data: DashboardData | None = None) -> Dash:
    """Build the app on ``data`` (default: the store and queue the settings point to).

    Args:
        settings: monitoring settings.
        data: the page data source (tests pass one on their own store).

    Returns:
        The Dash app; ``app.server`` is its Flask (WSGI) application, which answers 401 to every
        route without a ``DASHBOARD_USERS`` login unless ``ALLOW_OPEN_DASHBOARD`` is true.
    """
    if data is None:
        from monitoring.queue_probe import QueueProbe
        from shared.store.factory import make_store

        store = make_store(settings)
        store.setup()
        data = DashboardData(settings, store, QueueProbe.from_settings(settings))
    app = Dash(__name__, title="Credit Express - scoring monitor", suppress_callback_exceptions=True,
               update_title="")
    app.index_string = INDEX_STRING
    app.layout = _shell(settings)
    layouts = {module.PATH: module.layout for _, module in PAGES}

    @app.callback(Output("page", "children"), Input("url", "pathname"))
    def _route(pathname: str | None) -> Any:
        builder = layouts.get((pathname or "/").rstrip("/") or "/")
        if builder is None:
            return html.Div([html.H2("Page not found"), dcc.Link("Back to operations", href="/")], className="page")
        return builder()

    for _, module in PAGES:
        module.register(app, data)

    reports_dir = Path(settings.reports_dir).resolve()

    @app.server.route("/reports/<name>")
    def _report(name: str) -> Any:
        """A drift HTML report from REPORTS_DIR."""
        if not _REPORT_NAME.fullmatch(name) or not (reports_dir / name).is_file():
            abort(404)
        return send_from_directory(reports_dir, name)

    if not settings.allow_open_dashboard:
        protect(app.server, settings.users())
    return app


def serve(settings: MonitoringSettings) -> None:
    """Serve the dashboard until interrupted."""
    from werkzeug.serving import make_server

    app = create_app(settings)
    if settings.allow_open_dashboard:
        logger.warning("ALLOW_OPEN_DASHBOARD=true: the dashboard answers WITHOUT A LOGIN (development only)",
                       extra={"event": "dashboard_open"})
    elif not settings.users():
        logger.warning("DASHBOARD_USERS is empty: every dashboard request is refused (401) until users are set",
                       extra={"event": "dashboard_no_users"})
    if settings.log_level.upper() != "DEBUG":
        # one access line per page refresh of every open browser is noise; LOG_LEVEL=DEBUG shows them
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server(settings.dash_host, settings.dash_port, app.server, threaded=True)
    logger.info("dashboard on http://%s:%s", settings.dash_host, settings.dash_port,
                extra={"event": "dashboard_started", "host": settings.dash_host, "port": settings.dash_port})
    try:
        server.serve_forever()
    finally:
        server.server_close()
