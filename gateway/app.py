"""The FastAPI application: ``create_app(settings)``; heavy resources live in the lifespan."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.concurrency import run_in_threadpool

from gateway.errors import install_error_handlers
from gateway.fastpath import SCORE_PATH, ScoreEndpoint
from gateway.logs import QUIET_LOGGERS
from gateway.metrics import GatewayMetrics
from gateway.middleware import RequestContextMiddleware
from gateway.openapi import install_openapi
from gateway.resources import CompanionFactory, build_resources
from gateway.routes import health, jobs, metrics, model, outcomes, score
from gateway.settings import GatewaySettings
from shared.logs import configure_logging
from shared.resources import start_reporter

logger = logging.getLogger("gateway")
TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


class GatewayApp(FastAPI):
    """FastAPI, with ``POST /v1/score`` entering the request middleware directly.

    Between the HTTP server and :class:`RequestContextMiddleware` FastAPI puts its
    OpenTelemetry check (three environment lookups a request, when nothing is
    configured), Starlette's error middleware, an exception-telemetry and a body-limit
    layer: about a tenth of a score's CPU, for nothing on this path (the request
    middleware answers every error itself, with its request id). Other paths, and every
    path when OpenTelemetry is configured (an ``OTEL_*`` variable set), take the whole stack.
    """

    score_stack: Any = None  # the RequestContextMiddleware of the built stack, when scores may enter it
    direct_scores = True  # False: every request takes the whole stack

    def build_middleware_stack(self) -> Any:
        """Starlette's stack, remembering where its request middleware is."""
        stack = super().build_middleware_stack()
        layer: Any = stack
        while layer is not None and not isinstance(layer, RequestContextMiddleware):
            layer = getattr(layer, "app", None)
        if self.direct_scores:
            self.score_stack = layer
        return stack

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        stack = self.score_stack
        if stack is not None and scope["type"] == "http" and scope["path"] == SCORE_PATH:
            scope["app"] = self
            if self.root_path:
                scope["root_path"] = self.root_path
            await stack(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _reload_on_sighup(resources: Any) -> None:
    """``kill -HUP`` reloads ``MODEL_DIR`` (embedded mode: no registry to follow), off the event loop."""
    def reload() -> None:
        threading.Thread(target=resources.reload, name="model-reload", daemon=True).start()

    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests), or no signals
        logger.debug("SIGHUP reload not installed")

DESCRIPTION = """Credit scoring for *Credit Express*: a loan application (the raw Home Credit
`application_train` columns) in, a probability of default and a decision out.

* `POST /v1/score` scores at once; `POST /v1/score/batch` scores up to `MAX_BATCH_SIZE` as one matrix.
* `POST /v1/jobs` queues the work (RQ); poll `GET /v1/jobs/{job_id}`. Single applications that arrive
  within `JOB_LINGER_MS` of each other are scored together as one matrix; each keeps its own job id and result.
* `POST /v1/outcomes` reports whether scored applications defaulted (by `event_id`, `request_id` or `SK_ID_CURR`).
* Every `/v1` route needs an `X-API-Key` header. Errors are JSON with a `request_id`.
"""


def create_app(settings: GatewaySettings | None = None, publisher_factory: Any = None,
               companion_factory: CompanionFactory | None = None) -> FastAPI:
    """Build the app; nothing heavy happens until the lifespan starts.

    Args:
        settings: gateway settings (read from the environment when omitted).
        publisher_factory: ``(redis, settings) -> publisher``; tests inject one, the default is
            :class:`shared.publisher.EventPublisher`.
        companion_factory: the in-process worker and indexer of embedded mode (``embedded.app``
            passes them; the gateway alone has none).
    """
    settings = settings or GatewaySettings()
    gateway_metrics = GatewayMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.pseudonymisation_key, quiet=QUIET_LOGGERS)
        if not settings.api_keys:
            logger.warning("API KEYS DISABLED: ALLOW_NO_API_KEY=true, every /v1 route is open (development only)")
        resources = await run_in_threadpool(build_resources, settings, gateway_metrics, publisher_factory,
                                           companion_factory)
        app.state.resources = resources
        attach = getattr(resources.publisher, "attach_loop", None)
        if attach is not None:  # the events of the requests go to Redis from this loop, no thread hand-off
            attach()
        if settings.embedded:
            _reload_on_sighup(resources)
        stop_reporter = start_reporter("gateway", gateway_metrics.registry)  # this worker's CPU, memory, fds
        logger.info("gateway ready", extra={
            "mode": "embedded" if settings.embedded else "redis", "model_loaded": resources.scorer is not None,
            "auth": bool(settings.api_keys), "host": settings.host, "port": settings.port,
        })
        try:
            yield
        finally:
            stop_reporter.set()
            if resources.jobs is not None:  # applications waiting to be coalesced are enqueued, not dropped
                await resources.jobs.close()
            await run_in_threadpool(resources.close)
            logger.info("gateway stopped")

    # FastAPI's own OpenTelemetry instrumentation, only where OpenTelemetry is configured (see GatewayApp)
    otel = any(name.startswith("OTEL_") for name in os.environ)
    app = GatewayApp(title="Credit scoring gateway", version="1.0.0", description=DESCRIPTION, lifespan=lifespan,
                     telemetry=None if otel else TELEMETRY_OFF)
    app.direct_scores = not otel
    app.state.settings = settings
    app.add_middleware(ScoreEndpoint)  # inside RequestContextMiddleware: POST /v1/score's one handler
    app.add_middleware(RequestContextMiddleware, metrics=gateway_metrics, max_body_bytes=settings.max_body_bytes,
                       api_keys=settings.api_keys, access_log=settings.access_log,
                       access_log_sample=settings.access_log_sample, access_log_slow_ms=settings.access_log_slow_ms)
    install_error_handlers(app)
    for module in (score, jobs, outcomes, model, health, metrics):
        app.include_router(module.router)
    install_openapi(app, settings.max_batch_size, {(SCORE_PATH, "post"): score.score_operation()})
    return app
