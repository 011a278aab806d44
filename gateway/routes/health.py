"""``GET /health/live`` and ``GET /health/ready``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from gateway.deps import ResourcesDep
from gateway.resources import Resources
from gateway.responses import OrjsonResponse
from gateway.schemas import Readiness

router = APIRouter(prefix="/health", tags=["health"])

READY_EXAMPLE = {"status": "ready", "checks": {
    "model": {"ok": True, "model_version": "20250101T000000-lgbm"},
    "redis": {"ok": True, "mode": "external"},
    "events": {"ok": True, "pending": 0, "spooled": 0, "dropped": 0, "published": 1234, "redis_ok": True},
}}
NOT_READY_EXAMPLE = {"status": "not_ready", "checks": {
    "model": {"ok": True, "model_version": "20250101T000000-lgbm"},
    "redis": {"ok": False, "mode": "external", "error": "ConnectionError: Error 111 connecting to 127.0.0.1:6379"},
    "events": {"ok": True, "pending": 0, "spooled": 12, "dropped": 0, "published": 1234, "redis_ok": False},
}}


@router.get("/live", summary="The process answers",
            responses={200: {"content": {"application/json": {"example": {"status": "alive"}}}}})
async def live() -> OrjsonResponse:
    """Liveness: the process answers (no dependency checked)."""
    return OrjsonResponse({"status": "alive"})


def _ping(resources: Resources) -> dict[str, Any]:
    mode = "embedded" if resources.settings.embedded else "external"
    try:
        resources.redis.ping()
    except Exception as exc:
        return {"ok": False, "mode": mode, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "mode": mode}


def publisher_stats(resources: Resources) -> dict[str, Any]:
    """The event publisher's counters (an error entry when it cannot say)."""
    try:
        return dict(resources.publisher.stats())
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


@router.get("/ready", summary="Ready to serve, or which dependency is down", response_class=OrjsonResponse,
            responses={200: {"model": Readiness, "content": {"application/json": {"example": READY_EXAMPLE}}},
                       503: {"model": Readiness, "content": {"application/json": {"example": NOT_READY_EXAMPLE}}}})
async def ready(resources: ResourcesDep) -> OrjsonResponse:
    """Readiness: model loaded, Redis reachable; the event publisher and embedded threads reported."""
    checks: dict[str, dict[str, Any]] = {}
    if resources.scorer is not None:
        checks["model"] = {"ok": True, "model_version": resources.scorer.model_version}
    else:
        checks["model"] = {"ok": False, "error": resources.scorer_error or "not loaded"}
    checks["redis"] = await run_in_threadpool(_ping, resources)
    stats = publisher_stats(resources)
    # events wait in the spool while Redis is down: degraded, still serving
    checks["events"] = {"ok": "error" not in stats, **stats}
    embedded = resources.embedded
    if embedded is not None:
        if resources.settings.embedded_worker:
            checks["worker"] = {"ok": embedded.worker_alive,
                                **({"error": embedded.worker_error} if embedded.worker_error else {})}
        if resources.settings.embedded_indexer:
            checks["indexer"] = {"ok": embedded.indexer_alive,
                                 **({"error": embedded.indexer_error} if embedded.indexer_error else {})}
    # only the model and Redis gate readiness: without them nothing is served
    is_ready = checks["model"]["ok"] and checks["redis"]["ok"]
    return OrjsonResponse({"status": "ready" if is_ready else "not_ready", "checks": checks},
                          status_code=200 if is_ready else 503)
