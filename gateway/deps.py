"""How the routes reach the process's resources.

Most routes use the ``Annotated`` aliases below. The scoring routes (``POST
/v1/score``, ``/v1/score/batch``, ``/v1/jobs``) call :func:`scoring_of` /
:func:`jobs_of` directly: FastAPI's dependency solving cost about a tenth of a
``/v1/score`` request, for nothing a plain call does not do. The API key is
checked by :class:`gateway.middleware.RequestContextMiddleware` for every
``/v1/`` path.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.exceptions import ServiceUnavailableError
from gateway.resources import Resources
from gateway.services.jobs import JobService
from gateway.services.outcomes import OutcomeGateway
from gateway.services.scoring import ScoringService


def resources_of(request: Request) -> Resources:
    """The process's resources, built in the lifespan."""
    return request.app.state.resources  # type: ignore[no-any-return]


def scoring_of(request: Request) -> ScoringService:
    """The scoring service, or 503 when no model is loaded."""
    resources: Resources = request.app.state.resources
    if resources.scoring is None:
        raise ServiceUnavailableError(resources.scorer_error or "the model is not loaded")
    return resources.scoring


def jobs_of(request: Request) -> JobService:
    """The job service, or 503 when no model is loaded."""
    resources: Resources = request.app.state.resources
    if resources.jobs is None:
        raise ServiceUnavailableError(resources.scorer_error or "the model is not loaded")
    return resources.jobs


def outcomes_of(request: Request) -> OutcomeGateway:
    """The way to the outcome store."""
    resources: Resources = request.app.state.resources
    if resources.outcomes is None:
        raise ServiceUnavailableError("the outcome store is not configured")
    return resources.outcomes


# async: FastAPI runs a plain ``def`` dependency in a thread (a thread hop per request)
async def get_resources(request: Request) -> Resources:
    """Dependency form of :func:`resources_of`."""
    return resources_of(request)


async def get_scoring(request: Request) -> ScoringService:
    """Dependency form of :func:`scoring_of`."""
    return scoring_of(request)


async def get_jobs(request: Request) -> JobService:
    """Dependency form of :func:`jobs_of`."""
    return jobs_of(request)


async def get_outcomes(request: Request) -> OutcomeGateway:
    """Dependency form of :func:`outcomes_of`."""
    return outcomes_of(request)


ResourcesDep = Annotated[Resources, Depends(get_resources)]
OutcomesDep = Annotated[OutcomeGateway, Depends(get_outcomes)]
ScoringDep = Annotated[ScoringService, Depends(get_scoring)]
JobsDep = Annotated[JobService, Depends(get_jobs)]
