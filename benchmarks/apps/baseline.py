"""The usual peer setup: FastAPI, a pydantic body, pandas per request, LightGBM's sklearn API.

``def`` route (FastAPI runs it in its thread pool), ``pd.DataFrame([application])``,
pandas encoding (:func:`benchmarks.peer.pandas_encode`, same columns as ours) and
``predict_proba``: the baseline the gateway is compared with. Same validation schema
as the gateway, same uvicorn settings. Run:
``MODEL_DIR=models/default uvicorn benchmarks.apps.baseline:app --loop uvloop --http httptools``.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import FastAPI

from benchmarks.peer import pandas_encode, sklearn_classifier
from shared.encoding import EncodingState
from shared.schema import LoanApplication

STATE: dict[str, Any] = {}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the model once (the peers who reload it per request are slower still)."""
    bundle = Path(os.environ.get("MODEL_DIR", "models/default"))
    metadata = json.loads((bundle / "metadata.json").read_text())
    STATE["model"] = sklearn_classifier(bundle / "model.txt")
    STATE["encoding"] = EncodingState.from_dict(metadata["encoding"])
    STATE["threshold"] = float(metadata["threshold"]["value"])
    STATE["version"] = str(metadata["version"])
    yield


app = FastAPI(title="pandas + sklearn baseline", lifespan=lifespan)


@app.post("/v1/score")
def score(application: LoanApplication) -> dict[str, Any]:  # type: ignore[valid-type]
    """Score one application the usual way."""
    frame = pd.DataFrame([application.model_dump()])  # type: ignore[attr-defined]
    features = pandas_encode(frame, STATE["encoding"])
    probability = float(STATE["model"].predict_proba(features)[0, 1])
    decision = "refused" if probability >= STATE["threshold"] else "approved"
    return {"probability": probability, "decision": decision, "threshold": STATE["threshold"],
            "model_version": STATE["version"]}


@app.get("/health")
def health() -> dict[str, str]:
    """Liveness."""
    return {"status": "ok"}
