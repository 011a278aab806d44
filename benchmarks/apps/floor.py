"""The floor: a bare FastAPI endpoint that takes the same payload and does nothing with it.

Same server settings as the gateway (uvicorn, uvloop, httptools, no access log):
what HTTP + ASGI + FastAPI routing cost on this machine, before any work.
Run: ``uvicorn benchmarks.apps.floor:app --loop uvloop --http httptools --no-access-log``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI(title="floor")
_ANSWER = b'{"probability":0.1,"decision":"approved"}'


@app.post("/v1/score")
async def score(request: Request) -> Response:
    """Read the body, answer a constant."""
    await request.body()
    return Response(_ANSWER, media_type="application/json")


@app.get("/health")
async def health() -> dict[str, str]:
    """Liveness, for the benchmark's readiness wait."""
    return {"status": "ok"}
