"""``POST /v1/jobs`` and ``GET /v1/jobs/{job_id}``: async scoring through RQ."""

from __future__ import annotations

from fastapi import APIRouter, Request

from gateway.deps import JobsDep, jobs_of
from gateway.middleware import request_id_of
from gateway.openapi import errors, jobs_body
from gateway.responses import OrjsonResponse
from gateway.routes import explain_param, read_body
from gateway.schemas import JobAccepted, JobStatus

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

ACCEPTED_EXAMPLE = {"job_id": "0b8e5a56-1f43-4d0e-9d6b-3f1ad2c4e8a1", "status": "queued",
                    "status_url": "/v1/jobs/0b8e5a56-1f43-4d0e-9d6b-3f1ad2c4e8a1",
                    "request_id": "4f9c2b1e0a7d4c3b8e6f5a4d3c2b1a09", "count": 1, "rejected": 0, "errors": []}
STATUS_EXAMPLES = {
    "finished": {"summary": "finished", "value": {
        "job_id": "0b8e5a56-1f43-4d0e-9d6b-3f1ad2c4e8a1", "status": "finished",
        "enqueued_at": "2025-01-01T10:00:00.000Z", "started_at": "2025-01-01T10:00:00.004Z",
        "ended_at": "2025-01-01T10:00:00.006Z",
        "result": {"event_id": "9a1c3e5f7b2d4f6a8c0e1b3d5f7a9c2e", "probability": 0.0712, "decision": "approved",
                   "threshold": 0.1187,
                   "model_version": "20250101T000000-lgbm",
                   "timings": {"validation_ms": 0.05, "queue_wait_ms": 3.9, "inference_ms": 0.16, "total_ms": 5.1}}}},
    "queued": {"summary": "queued", "value": {
        "job_id": "0b8e5a56-1f43-4d0e-9d6b-3f1ad2c4e8a1", "status": "queued",
        "enqueued_at": "2025-01-01T10:00:00.000Z", "started_at": None, "ended_at": None}},
    "failed": {"summary": "failed", "value": {
        "job_id": "0b8e5a56-1f43-4d0e-9d6b-3f1ad2c4e8a1", "status": "failed",
        "enqueued_at": "2025-01-01T10:00:00.000Z", "started_at": "2025-01-01T10:00:00.004Z",
        "ended_at": "2025-01-01T10:00:30.004Z",
        "reason": "JobTimeoutException: Task exceeded maximum timeout value (30 seconds)"}},
}


@router.post(
    "", status_code=202, summary="Queue one application or a batch", response_class=OrjsonResponse,
    responses={202: {"model": JobAccepted, "content": {"application/json": {"example": ACCEPTED_EXAMPLE}}},
               **errors(400, 401, 413, 422, 503)},
    openapi_extra=jobs_body(),
)
async def submit_job(request: Request) -> OrjsonResponse:
    """Queue one application, or {"applications": [...]}; poll status_url for the result."""
    jobs = jobs_of(request)
    explain = explain_param(request, jobs.scoring, "async")
    body = await read_body(request, jobs.scoring, "async")
    answer = await jobs.submit(body, request_id_of(request.scope), explain)
    return OrjsonResponse(answer, status_code=202, headers={"Location": answer["status_url"]})


@router.get(
    "/{job_id}", summary="State of a job", response_class=OrjsonResponse,
    responses={200: {"model": JobStatus, "content": {"application/json": {"examples": STATUS_EXAMPLES}}},
               404: {"description": "unknown job, or its result has expired", "content": {"application/json": {
                   "example": {"error": "job_not_found", "message": "no job 'x' (unknown, or its result has expired)",
                               "request_id": "4f9c2b1e0a7d4c3b8e6f5a4d3c2b1a09"}}}},
               **errors(401, 503)},
)
async def job_status(job_id: str, jobs: JobsDep) -> OrjsonResponse:
    """Queued, started, finished (with the result) or failed (with the reason)."""
    return OrjsonResponse(await jobs.status(job_id))
