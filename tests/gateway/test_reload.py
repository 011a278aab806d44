"""Embedded mode: MODEL_DIR reloaded (SIGHUP) beside the current model, checked, then swapped; a bad bundle is not."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from tests.gateway.conftest import HEADERS
from tests.utils.data import synthetic_applications


def _version(client: TestClient) -> str:
    response = client.post("/v1/score", json=synthetic_applications(1, seed=4)[0], headers=HEADERS)
    assert response.status_code == 200, response.text
    return str(response.json()["model_version"])


def test_reload_swaps_in_the_new_bundle_of_model_dir(make_client: Callable[..., TestClient], bundle_dir: Path,
                                                      tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(bundle_dir, model_dir)
    client = make_client(model_dir=model_dir)
    before = _version(client)
    meta = json.loads((model_dir / "metadata.json").read_text())
    meta["version"] = "reloaded-bundle"
    (model_dir / "metadata.json").write_text(json.dumps(meta))
    resources = client.app.state.resources  # type: ignore[attr-defined]
    resources.reload()  # what SIGHUP runs, in its own thread
    assert _version(client) == "reloaded-bundle" != before
    # a bundle that does not reproduce its own reference scores is refused: the current one keeps serving
    meta["calibration"]["a"] = float(meta["calibration"]["a"]) * 2
    meta["version"] = "broken-bundle"
    (model_dir / "metadata.json").write_text(json.dumps(meta))
    resources.reload()
    assert _version(client) == "reloaded-bundle"
    assert client.get("/v1/model", headers=HEADERS).json()["registry_version"] is None  # MODEL_DIR, no registry
