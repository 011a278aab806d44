"""``GET /metrics``: Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from gateway.deps import ResourcesDep
from gateway.routes.health import publisher_stats

router = APIRouter(tags=["metrics"])

_PUBLISHER_GAUGES = ("pending", "spooled", "dropped", "published")


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"example": (
                'gateway_requests_total{route="/v1/score",method="POST",status="200"} 1234.0\n'
                'gateway_queue_depth 0.0\ngateway_queue_oldest_age_seconds 0.0\n')}}}})
async def metrics(resources: ResourcesDep) -> Response:
    """Requests and latency per route, scores, decisions, errors, queue backlog, event publisher state."""
    stats = publisher_stats(resources)
    gauges: dict[str, float | None] = {f"events_{k}": stats.get(k) for k in _PUBLISHER_GAUGES}
    gauges["events_redis_ok"] = float(bool(stats.get("redis_ok"))) if "redis_ok" in stats else None
    if resources.jobs is not None:
        gauges["queue_depth"], gauges["queue_oldest_age_seconds"] = await resources.jobs.backlog()
    gauges["model_loaded"] = float(resources.scorer is not None)
    return Response(resources.metrics.render(gauges), media_type=CONTENT_TYPE_LATEST)
