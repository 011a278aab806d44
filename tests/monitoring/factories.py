"""Applications and events for the monitoring tests, drawn from the Home Credit profile.

Independent of the training generator on purpose: the monitoring tests need
rows fast and with a controllable shift, not a realistic joint distribution.
"""

from __future__ import annotations

import base64
import functools
import gzip
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from shared.columns import DAYS_EMPLOYED_UNEMPLOYED, feature_columns, profile
from shared.event import ScoringEvent, Timings

# the dashboard's test login (a cheap bcrypt cost: tests hash it once per session)
DASH_USER, DASH_PASSWORD = "tester", "tester-password-0123"


@functools.cache
def dashboard_users() -> str:
    """``DASHBOARD_USERS`` holding the test login."""
    from monitoring.dashboard.auth import hash_password

    return f"{DASH_USER}:{hash_password(DASH_PASSWORD, rounds=4)}"


def basic(user: str, password: str) -> str:
    """An HTTP basic ``Authorization`` value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


_QUANTILE_LEVELS = np.array([0.0, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0])


def _quantile_values(figures: dict[str, Any]) -> np.ndarray:
    q = figures["quantiles"]
    inner = [q[k] for k in ("0.001", "0.01", "0.05", "0.1", "0.25", "0.5", "0.75", "0.9", "0.95", "0.99", "0.999")]
    return np.array([figures["min"], *inner, figures["max"]], dtype=float)


def make_applications(n: int, seed: int = 0, *, income_factor: float = 1.0, missing_extra: float = 0.0,
                      category_shift: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Independent draws per column from the profile's marginals.

    Args:
        n: number of applications.
        seed: random seed.
        income_factor: multiplies AMT_INCOME_TOTAL (income inflation).
        missing_extra: extra share of missing EXT_SOURCE_1..3.
        category_shift: column -> category given to 40 % of the rows.

    Returns:
        Raw application dicts (None = missing) with a ``score`` key.
    """
    rng = np.random.default_rng(seed)
    cols = profile()["columns"]
    data: dict[str, list[Any]] = {}
    for column in feature_columns():
        figures = cols[column.name]
        missing = rng.random(n) < figures["missing_rate"]
        if column.kind == "categorical":
            cats = list(figures["frequencies"])
            p = np.array(list(figures["frequencies"].values()), dtype=float)
            values: list[Any] = rng.choice(cats, size=n, p=p / p.sum()).tolist()
        elif column.kind == "flag":
            values = (rng.random(n) < figures.get("one_rate", figures["mean"])).astype(int).tolist()
        else:
            draws = np.interp(rng.random(n), _QUANTILE_LEVELS, _quantile_values(figures))
            if column.kind == "integer":
                draws = np.round(draws)
            values = draws.tolist()
        data[column.name] = [None if m else v for v, m in zip(values, missing, strict=True)]
    data["AMT_INCOME_TOTAL"] = [v * income_factor for v in data["AMT_INCOME_TOTAL"]]
    # DAYS_EMPLOYED: the profile's quantiles already hold 365243 at the top 18 %.
    data["DAYS_EMPLOYED"] = [DAYS_EMPLOYED_UNEMPLOYED if v > 0 else v for v in data["DAYS_EMPLOYED"]]
    if missing_extra:
        for name in ("EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3"):
            drop = rng.random(n) < missing_extra
            data[name] = [None if d else v for v, d in zip(data[name], drop, strict=True)]
    for name, category in (category_shift or {}).items():
        switch = rng.random(n) < 0.4
        data[name] = [category if s else v for v, s in zip(data[name], switch, strict=True)]
    ext2 = np.array([0.5 if v is None else v for v in data["EXT_SOURCE_2"]])
    score = np.clip(0.35 - 0.4 * ext2 + rng.normal(0, 0.05, n), 0.001, 0.999)
    rows = [dict(zip(data, values, strict=True)) for values in zip(*data.values(), strict=True)]
    for row, s in zip(rows, score, strict=True):
        row["score"] = float(s)
    return rows


def make_events(applications: Iterable[dict[str, Any]], start: datetime | None = None,
                spacing: timedelta = timedelta(seconds=1), seed: int = 0, error_every: int = 0,
                path: str = "sync", threshold: float = 0.1, latency_ms: float = 3.0) -> list[dict[str, Any]]:
    """Scoring events (``ScoringEvent.to_dict()``) for the given applications, ``spacing`` apart from ``start``.

    Every ``error_every``-th event is a failed one (status "error"), when set.
    """
    rng = np.random.default_rng(seed)
    start = start or datetime.now(UTC) - timedelta(hours=1)
    events = []
    for i, app in enumerate(applications):
        failed = bool(error_every) and i % error_every == error_every - 1
        features = {k: v for k, v in app.items() if k not in ("score", "SK_ID_CURR")}
        inference = float(rng.gamma(2.0, latency_ms / 6))
        score = None if failed else app.get("score")
        event = ScoringEvent(
            path=path,  # type: ignore[arg-type]
            status="error" if failed else "ok",  # type: ignore[arg-type]
            model_version="test-1", request_id=uuid.uuid4().hex, features=features, score=score,
            decision=None if score is None else ("refused" if score >= threshold else "approved"),
            threshold=threshold, error_type="InferenceError" if failed else None,
            error_message="model failed" if failed else None,
            timings=Timings(validation_ms=0.2, inference_ms=inference,
                            total_ms=inference + latency_ms / 2 + float(rng.exponential(latency_ms / 4))),
        )
        event.timestamp = (start + i * spacing).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        events.append(event.to_dict())
    return events


def write_bundle(folder: Path, rows: list[dict[str, Any]], threshold: float = 0.1) -> Path:
    """A model bundle folder holding only what monitoring reads (reference sample, metadata)."""
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / "reference.jsonl.gz", "wb") as handle:
        for row in rows:
            handle.write(orjson.dumps(row) + b"\n")
    (folder / "metadata.json").write_text(json.dumps({"version": "test-1", "threshold": {"value": threshold}}))
    return folder
