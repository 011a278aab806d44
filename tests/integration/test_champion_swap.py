"""A promotion and a rollback under concurrent requests: no failure, no answer mixing two versions."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
from fastapi.testclient import TestClient

from gateway.app import create_app
from shared.champion import CHALLENGER_KEY, CHAMPION_CHANNEL, CHAMPION_KEY, ChampionNotice
from tests.integration.redis_support import HEADERS, gateway_settings, redis_database
from tests.utils.data import synthetic_applications

pytestmark = pytest.mark.integration


@pytest.fixture
def champion_db() -> Iterator[str]:
    with redis_database("champion") as url:
        yield url


def _bundle(source: Path, target: Path, version: str) -> Path:
    shutil.copytree(source, target)
    meta = json.loads((target / "metadata.json").read_text())
    meta["version"] = version
    (target / "metadata.json").write_text(json.dumps(meta))
    return target


def _publish(client: redis.Redis, version: str, bundle: Path, action: str) -> None:
    notice = ChampionNotice(version, bundle.as_uri(), action, "2026-12-07T00:00:00.000Z").to_json()
    client.set(CHAMPION_KEY, notice)
    client.publish(CHAMPION_CHANNEL, notice)


def test_promotion_and_rollback_under_load(champion_db: str, tiny_bundle: Path, tmp_path: Path) -> None:
    first = _bundle(tiny_bundle, tmp_path / "v1", "bundle-one")
    second = _bundle(tiny_bundle, tmp_path / "v2", "bundle-two")
    control = redis.Redis.from_url(champion_db)
    settings = gateway_settings(champion_db, first, tmp_path, embedded_worker=False)
    bodies = [orjson.dumps(a) for a in synthetic_applications(20, seed=5)]
    answers: list[tuple[int, str | None, float]] = []
    stop = threading.Event()

    with TestClient(create_app(settings)) as client:
        def load(offset: int) -> None:
            k = offset
            while not stop.is_set():
                response = client.post("/v1/score", content=bodies[k % len(bodies)], headers=HEADERS)
                version = response.json().get("model_version") if response.status_code == 200 else None
                answers.append((response.status_code, version, time.monotonic()))
                k += 1

        threads = [threading.Thread(target=load, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(0.5)
            _publish(control, "2", second, "promote")  # promotion
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not any(v == "bundle-two" for _, v, _ in answers[-20:]):
                time.sleep(0.1)
            promoted_at = time.monotonic()
            time.sleep(0.5)
            _publish(control, "1", first, "rollback")  # rollback
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and answers[-1][1] != "bundle-one":
                time.sleep(0.1)
            time.sleep(0.5)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        control.set(CHALLENGER_KEY, ChampionNotice("3", second.as_uri()).to_json())
        info = client.get("/v1/model", headers=HEADERS).json()

    assert answers and all(status == 200 for status, _, _ in answers), {s for s, _, _ in answers}
    versions = [v for _, v, _ in answers]
    assert set(versions) == {"bundle-one", "bundle-two"}
    assert any(v == "bundle-two" for _, v, t in answers if t >= promoted_at)
    assert versions[-1] == "bundle-one"  # rolled back
    assert info["model_version"] == "bundle-one" and info["registry_version"] == "1"
    assert info["champion_since"] == "2026-12-07T00:00:00.000Z"
    assert info["challenger"] == {"model_version": "3", "bundle_uri": second.as_uri()}
