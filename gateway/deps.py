"""Dependencies of the routes, as ``Annotated`` aliases.

All are ``async def``: FastAPI runs a plain ``def`` dependency in a thread,
which would cost a thread hop on every request.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from gateway.exceptions import AuthenticationError, ServiceUnavailableError
from gateway.middleware import request_id_of
from gateway.resources import Resources
from gateway.services.jobs import JobService
from gateway.services.scoring import ScoringService

API_KEY_HEADER = "X-API-Key"
_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                        description="one of the keys in the API_KEYS environment variable")


async def get_resources(request: Request) -> Resources:
    """The process's resources, built in the lifespan."""
    return request.app.state.resources  # type: ignore[no-any-return]


async def get_request_id(request: Request) -> str | None:
    """The request id (``X-Request-ID`` in, or a new one)."""
    return request_id_of(request.scope)


async def require_api_key(request: Request, key: Annotated[str | None, Security(_api_key)]) -> None:
    """401 unless ``X-API-Key`` matches one of ``API_KEYS`` (constant-time comparison against each)."""
    keys: list[bytes] = request.app.state.api_keys
    if not keys:
        return  # ALLOW_NO_API_KEY=true, announced at start-up
    if not key:
        raise AuthenticationError(f"missing {API_KEY_HEADER} header")
    given = key.encode()
    matched = False
    for candidate in keys:  # no early exit: the time does not tell which key nearly matched
        matched |= hmac.compare_digest(given, candidate)
    if not matched:
        raise AuthenticationError(f"invalid {API_KEY_HEADER}")


async def get_scoring(resources: Annotated[Resources, Depends(get_resources)]) -> ScoringService:
    """The scoring service, or 503 when no model is loaded."""
    if resources.scoring is None:
        raise ServiceUnavailableError(resources.scorer_error or "the model is not loaded")
    return resources.scoring


async def get_jobs(resources: Annotated[Resources, Depends(get_resources)]) -> JobService:
    """The job service, or 503 when no model is loaded."""
    if resources.jobs is None:
        raise ServiceUnavailableError(resources.scorer_error or "the model is not loaded")
    return resources.jobs


ResourcesDep = Annotated[Resources, Depends(get_resources)]
RequestIdDep = Annotated[str | None, Depends(get_request_id)]
ScoringDep = Annotated[ScoringService, Depends(get_scoring)]
JobsDep = Annotated[JobService, Depends(get_jobs)]
ApiKey = Depends(require_api_key)
