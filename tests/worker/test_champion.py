"""A worker process follows the registry's champion: loaded at start from the Redis key, swapped on a notice."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import fakeredis

from shared.champion import CHAMPION_CHANNEL, CHAMPION_KEY, ChampionNotice
from worker import tasks
from worker.settings import WorkerSettings


def _copy(bundle: Path, target: Path, version: str) -> Path:
    shutil.copytree(bundle, target)
    meta = json.loads((target / "metadata.json").read_text())
    meta["version"] = version
    (target / "metadata.json").write_text(json.dumps(meta))
    return target


def test_the_worker_serves_the_published_champion_and_follows_it(worker_settings: WorkerSettings,
                                                                  worker_bundle: Path, tmp_path: Path) -> None:
    redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    two = _copy(worker_bundle, tmp_path / "two", "bundle-two")
    three = _copy(worker_bundle, tmp_path / "three", "bundle-three")
    redis.set(CHAMPION_KEY, ChampionNotice("2", two.as_uri()).to_json())
    settings = worker_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0",
                                                  "bundle_cache_dir": tmp_path / "cache"})
    runtime = tasks.load_runtime(redis, settings)
    try:
        assert runtime.follower is not None
        # the stored champion, not MODEL_DIR, serves from the first job on
        assert runtime.scorer.model_version == "bundle-two" and runtime.core.scorer is runtime.scorer
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and runtime.scorer.model_version != "bundle-three":
            redis.publish(CHAMPION_CHANNEL, ChampionNotice("3", str(three)).to_json())
            time.sleep(0.2)
        assert runtime.scorer.model_version == "bundle-three" and runtime.core.scorer is runtime.scorer
    finally:
        tasks.close_runtime()
