"""The model holder: a checked swap, never a mixed request; the follower loads what the registry publishes."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import fakeredis
import pytest

from shared.champion import CHAMPION_CHANNEL, CHAMPION_KEY, ChampionNotice, fetch_bundle
from shared.model_holder import BundleCheckError, ChampionFollower, ModelHolder, check_bundle
from shared.scorer import Scorer
from tests.utils.data import synthetic_applications


def _copy(bundle: Path, target: Path, version: str, **threshold: float) -> Path:
    shutil.copytree(bundle, target)
    meta = json.loads((target / "metadata.json").read_text())
    meta["version"] = version
    meta["threshold"].update(threshold)
    (target / "metadata.json").write_text(json.dumps(meta))
    return target


def test_check_bundle_accepts_a_sound_bundle_and_refuses_a_tampered_one(tiny_bundle: Path, tmp_path: Path) -> None:
    assert check_bundle(Scorer.load(tiny_bundle)) > 0
    bad = _copy(tiny_bundle, tmp_path / "bad", "bad")
    meta = json.loads((bad / "metadata.json").read_text())
    meta["calibration"]["a"] = float(meta["calibration"]["a"]) * 1.5  # scores no longer match the reference
    (bad / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(BundleCheckError):
        check_bundle(Scorer.load(bad))
    holder = ModelHolder(Scorer.load(tiny_bundle))
    before = holder.current
    with pytest.raises(BundleCheckError):
        holder.load(bad)
    assert holder.current is before and holder.swaps == 0


def test_no_request_mixes_two_versions_during_swaps(tiny_bundle: Path, tmp_path: Path) -> None:
    a = _copy(tiny_bundle, tmp_path / "a", "version-a")
    b = _copy(tiny_bundle, tmp_path / "b", "version-b")
    holder = ModelHolder(Scorer.load(a), "1")
    applications = synthetic_applications(4, seed=3)
    seen: set[str] = set()
    errors: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            scorer = holder.current  # one version for the whole request
            versions = {r.model_version for r in scorer.score_batch(applications)}
            if len(versions) != 1:
                errors.append(str(versions))
            seen.update(versions)

    threads = [threading.Thread(target=serve) for _ in range(3)]
    for t in threads:
        t.start()
    for k in range(6):
        holder.load(b if k % 2 == 0 else a, registry_version=str(k + 2))
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert seen == {"version-a", "version-b"} and holder.swaps == 6


def test_follower_loads_the_stored_champion_then_each_notice(tiny_bundle: Path, tmp_path: Path) -> None:
    redis = fakeredis.FakeRedis()
    holder = ModelHolder(Scorer.load(tiny_bundle))
    two = _copy(tiny_bundle, tmp_path / "two", "bundle-two")
    three = _copy(tiny_bundle, tmp_path / "three", "bundle-three")
    redis.set(CHAMPION_KEY, ChampionNotice("2", two.as_uri()).to_json())
    follower = ChampionFollower(holder, redis, tmp_path / "cache")
    assert follower.sync() and holder.current.model_version == "bundle-two" and holder.registry_version == "2"
    assert not follower.sync()  # already serving it
    follower.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and holder.registry_version != "3":
            redis.publish(CHAMPION_CHANNEL, ChampionNotice("3", str(three)).to_json())
            time.sleep(0.2)
        assert holder.current.model_version == "bundle-three"
        # a notice naming a missing bundle keeps the current model and counts an error
        redis.publish(CHAMPION_CHANNEL, ChampionNotice("4", str(tmp_path / "missing")).to_json())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and follower.errors == 0:
            time.sleep(0.1)
        assert follower.errors >= 1 and holder.registry_version == "3"
    finally:
        follower.stop()


def test_fetch_bundle_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        fetch_bundle(str(tmp_path), tmp_path / "cache")
    with pytest.raises(ValueError):
        fetch_bundle("s3://bucket/bundle", tmp_path / "cache")
    assert ChampionNotice.from_json(b"not json") is None and ChampionNotice.from_json(None) is None


def test_fetch_bundle_over_http(tiny_bundle: Path, tmp_path: Path) -> None:
    import functools
    import http.server

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tiny_bundle.parent))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        uri = f"http://127.0.0.1:{server.server_address[1]}/{tiny_bundle.name}"
        local = fetch_bundle(uri, tmp_path / "cache")
        assert local.parent == tmp_path / "cache"
        assert Scorer.load(local).model_version == Scorer.load(tiny_bundle).model_version
        assert fetch_bundle(uri, tmp_path / "cache") == local  # cached
    finally:
        server.shutdown()
