"""Static checks of the stack deployment (no Docker engine needed): the compose override,
the CI jobs that start the stack and deploy it, and the smoke test they run."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
OVERRIDE = ROOT / "deploy" / "compose.stack.yaml"


def _yaml(path: Path) -> dict[Any, Any]:
    return yaml.safe_load(path.read_text())


def _jobs() -> dict[str, Any]:
    return _yaml(ROOT / ".github" / "workflows" / "ci.yml")["jobs"]


def test_the_override_only_tunes_services_of_compose_yaml() -> None:
    base, override = _yaml(ROOT / "compose.yaml")["services"], _yaml(OVERRIDE)["services"]
    assert set(override) <= set(base)
    assert override["worker"]["command"][:4] == ["python", "-m", "worker", "pool"]
    # Elasticsearch reaches the loopback only: the smoke test's way in, not the world's
    assert all(port.startswith("127.0.0.1:") for port in override["elasticsearch"]["ports"])


def test_the_override_matches_the_compose_specification() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    pytest.importorskip("check_jsonschema", reason="check-jsonschema ships the Compose schema")
    schema_file = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert [e.message for e in validator.iter_errors(_yaml(OVERRIDE))] == []


def test_stack_smoke_starts_the_stack_and_scores_through_it() -> None:
    job = _jobs()["stack-smoke"]
    assert {"test", "bundle"} <= set(job["needs"])
    script = "\n".join(step.get("run", "") for step in job["steps"])
    assert "docker compose -f compose.yaml -f deploy/compose.stack.yaml up -d --build --wait" in script
    assert "deploy/smoke_stack.py" in script and "--elasticsearch http://127.0.0.1:19200" in script
    assert "${ES_PUBLISH_PORT:-19200}:9200" in OVERRIDE.read_text()
    assert "openssl rand" in script and "::add-mask::" in script  # throw-away secrets, masked


def test_deploy_stack_runs_on_main_with_this_commits_images_and_the_same_smoke_test() -> None:
    job = _jobs()["deploy-stack"]
    assert "refs/heads/main" in job["if"] and "push" in job["if"] and "vars.DEPLOY_HOST" in job["if"]
    assert {"build", "stack-smoke"} <= set(job["needs"])
    steps = {step.get("name", ""): step for step in job["steps"]}
    start = next(s for name, s in steps.items() if name.startswith("Pull and start"))
    assert start["env"]["IMAGE_TAG"] == "${{ github.sha }}"
    assert start["env"]["IMAGE_PREFIX"].startswith("ghcr.io/${{ github.repository }}")
    assert "--no-build" in start["run"] and "umask 077" in start["run"]
    for key in ("PSEUDONYMISATION_KEY", "API_KEYS"):
        assert start["env"][key].startswith("${{ secrets.")
    assert "smoke_stack.py" in "\n".join(s.get("run", "") for s in job["steps"])


def test_the_build_job_pushes_the_tags_deploy_stack_pulls() -> None:
    build = _jobs()["build"]
    meta = next(s for s in build["steps"] if s.get("id") == "meta")
    assert "type=sha,format=long,prefix=" in meta["with"]["tags"]
    assert "credit-scoring-${{ matrix.image }}" in meta["with"]["images"]
    images = re.findall(r"credit-scoring-(\w+):", (ROOT / "compose.yaml").read_text())
    assert set(images) <= set(build["strategy"]["matrix"]["image"])


def test_smoke_stack_fails_cleanly_when_nothing_answers() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(ROOT / "deploy" / "smoke_stack.py"), "--gateway",
                           "http://127.0.0.1:9", "--timeout", "3"], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "gateway not ready" in done.stderr
