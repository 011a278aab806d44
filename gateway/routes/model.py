"""``GET /v1/model``: what is loaded."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from gateway.deps import ResourcesDep, ScoringDep
from gateway.openapi import errors
from gateway.responses import OrjsonResponse
from gateway.schemas import ModelInfo
from shared.champion import CHALLENGER_KEY, ChampionNotice
from shared.columns import feature_columns
from shared.scorer import Scorer

router = APIRouter(prefix="/v1", tags=["model"])

MODEL_EXAMPLE = {
    "model_version": "20250101T000000-lgbm", "threshold": 0.1187, "n_features": 251,
    "features": [{"name": "NAME_CONTRACT_TYPE", "kind": "categorical", "required": True}],
    "metrics": {"auc": 0.76, "business_cost": 0.49},
    "importance": [{"field": "EXT_SOURCE_MEAN", "mean_abs_contribution": 0.34},
                   {"field": "EXT_SOURCE_MAX", "mean_abs_contribution": 0.22}],
    "metadata": {"version": "20250101T000000-lgbm"},
}


def model_info(scorer: Scorer) -> dict[str, Any]:
    """The answer of ``GET /v1/model`` (built once: the bundle does not change while loaded)."""
    metadata = {k: v for k, v in scorer.metadata.items() if k != "encoding"}
    return {
        "model_version": scorer.model_version,
        "threshold": scorer.threshold,
        "n_features": scorer.state.n_features,
        "features": [{"name": c.name, "kind": c.kind, "required": c.required} for c in feature_columns()],
        "metrics": scorer.metadata.get("metrics", {}),
        "importance": scorer.metadata.get("importance", []),
        "metadata": metadata,
    }


@router.get("/model", summary="The loaded model", response_class=OrjsonResponse,
            responses={200: {"model": ModelInfo, "content": {"application/json": {"example": MODEL_EXAMPLE}}},
                       **errors(401, 503)})
async def model(scoring: ScoringDep, resources: ResourcesDep) -> OrjsonResponse:
    """Bundle metadata: version, threshold, metrics, input features and global importance; champion, challenger."""
    info = model_info(scoring.scorer)
    holder = resources.holder
    info["registry_version"] = holder.registry_version if holder else None
    info["champion_since"] = holder.since if holder else None
    info["challenger"] = await run_in_threadpool(_challenger, resources.redis)
    return OrjsonResponse(info)


def _challenger(redis: Any) -> dict[str, Any] | None:
    """The challenger the registry published, or None (none, or Redis not answering)."""
    try:
        notice = ChampionNotice.from_json(redis.get(CHALLENGER_KEY))
    except Exception:  # noqa: BLE001 - Redis down: the model answer still stands
        return None
    return None if notice is None else {"model_version": notice.model_version, "bundle_uri": notice.bundle_uri}
