"""Static checks of the container and CI/CD files: no Docker engine is needed.

compose.yaml is validated against the Compose Specification schema (the copy shipped by
check-jsonschema) and, where podman-compose is installed, by `podman-compose config`; the
Dockerfiles by hadolint, the workflow by actionlint (skipped, with the reason, when a binary
is missing). The rest are the project's own rules: health checks and depends_on conditions,
no secret in any file, non-root images, lock files that match constraints.txt, and the
Hugging Face Space layout that CI uploads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILES = ["Dockerfile.gateway", "Dockerfile.worker", "Dockerfile.monitoring", "Dockerfile.space"]
LOCKS = {"gateway": "gateway.txt", "worker": "worker.txt", "monitoring": "monitoring.txt", "space": "space.txt"}
APP_SERVICES = ["gateway", "worker", "indexer", "monitoring-scheduler", "dashboard"]
ENTRY_POINTS = {
    "worker": ["python", "-m", "worker", "pool"],
    "indexer": ["python", "-m", "worker", "indexer"],
    "monitoring-scheduler": ["python", "-m", "monitoring", "schedule"],
    "dashboard": ["python", "-m", "monitoring", "dashboard"],
}
SECRET_NAMES = ("PSEUDONYMISATION_KEY", "API_KEYS", "HF_TOKEN", "PASSWORD", "SECRET", "TOKEN", "DASHBOARD_USERS")
# one-shot services (they run, then exit 0): no health check, started only with their profile
ONE_SHOT = {"kibana-setup"}
PROFILED = {"kibana", "kibana-setup"}
# a lowercase name==version pin of a requirements / constraints line
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", re.MULTILINE)


def _binary(name: str, install: str = "pip install -e '.[dev]'") -> str:
    """The path of a tool installed next to this interpreter (the venv) or on PATH; skip if absent."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed ({install})")
    return found


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    return {_normalise(n): v for n, v in PIN.findall(path.read_text())}


# --- compose.yaml ----------------------------------------------------------------------------


def test_compose_matches_the_compose_specification() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    pytest.importorskip("check_jsonschema", reason="check-jsonschema ships the Compose schema")
    schema_file = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(_compose())]
    assert errors == []


def test_podman_compose_config_resolves_the_file(tmp_path: Path) -> None:
    podman_compose = _binary("podman-compose", "optional: pip install podman-compose, and podman")
    if not shutil.which("podman"):
        pytest.skip("podman-compose needs the podman binary")
    env = {**os.environ, "PSEUDONYMISATION_KEY": "k" * 32, "API_KEYS": "a" * 32}
    done = subprocess.run(
        [podman_compose, "-f", str(ROOT / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # no stray .env of the developer
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    resolved = yaml.safe_load(done.stdout)
    assert resolved["services"]["worker"]["command"][-1] == "2"  # ${WORKER_PROCESSES:-2}


def test_compose_has_every_service_of_the_stack() -> None:
    services = _compose()["services"]
    assert set(services) >= {"redis", "elasticsearch", *APP_SERVICES, "kibana"}
    for name, command in ENTRY_POINTS.items():
        assert services[name]["command"][: len(command)] == command, name


def test_compose_runs_the_processes_of_make_stack() -> None:
    procfile = ROOT / "Procfile"
    if not procfile.exists():
        pytest.skip("no Procfile (make stack) yet")
    services = _compose()["services"]
    for name, command in re.findall(r"^([a-z-]+):\s*(.+)$", procfile.read_text(), re.MULTILINE):
        module = re.search(r"python -m (\w+)(?: (\w+))?", command)
        if module is None:  # helpers of make stack (the `ready` printer), not services
            continue
        assert name in services, f"Procfile process {name} has no compose service"
        wanted = ["python", "-m", *(part for part in module.groups() if part)]
        actual = services[name].get("command") or ["python", "-m", "gateway"]  # the gateway image's CMD
        assert actual[: len(wanted)] == wanted, name


def test_every_service_has_a_health_check_and_waits_for_healthy_servers() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service["restart"] == "no", name
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    for name in APP_SERVICES:
        depends = services[name]["depends_on"]
        for server in ("redis", "elasticsearch"):
            assert depends[server]["condition"] == "service_healthy", (name, server)
    assert services["kibana"]["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
    assert services["kibana"]["depends_on"]["kibana-setup"]["condition"] == "service_completed_successfully"


def test_the_worker_scales_and_kibana_is_optional() -> None:
    services = _compose()["services"]
    assert "container_name" not in services["worker"] and "ports" not in services["worker"]
    assert services["kibana"]["profiles"] == ["kibana"] == services["kibana-setup"]["profiles"]
    assert all("profiles" not in s for n, s in services.items() if n not in PROFILED)


def test_elasticsearch_is_a_single_node_9_2_with_a_volume() -> None:
    compose = _compose()
    es = compose["services"]["elasticsearch"]
    assert re.search(r"/elasticsearch:9\.2\.\d+$", es["image"])
    assert es["environment"]["discovery.type"] == "single-node"
    assert "ports" not in es and "ports" not in compose["services"]["redis"], "only the containers reach them"
    volume = es["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    assert re.search(r"/kibana:9\.2\.\d+$", compose["services"]["kibana"]["image"])


def test_compose_holds_no_secret_and_requires_them_from_the_environment() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if any(word in key for word in SECRET_NAMES):
                # from .env, required (compose refuses to start without it); Kibana's only when its profile runs
                required = re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", str(value))
                optional = name in PROFILED and re.fullmatch(r"\$\{[A-Z_]+:-\}", str(value))
                assert required or optional, f"{name}.{key} = {value!r}"
    assert "API_KEYS" in services["gateway"]["environment"]


def test_elasticsearch_runs_with_security_and_every_service_logs_in() -> None:
    services = _compose()["services"]
    es = services["elasticsearch"]["environment"]
    assert es["xpack.security.enabled"] == "true"
    assert es["ELASTIC_PASSWORD"].startswith("${ELASTIC_PASSWORD:?")
    assert "$${ELASTIC_PASSWORD}" in services["elasticsearch"]["healthcheck"]["test"][1]  # the health check logs in
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["ELASTICSEARCH_USERNAME"] == "elastic", name
        assert env["ELASTICSEARCH_PASSWORD"] == es["ELASTIC_PASSWORD"], name
    assert services["kibana"]["environment"]["ELASTICSEARCH_USERNAME"] == "kibana_system"


def test_published_ports_bind_to_loopback_unless_told_otherwise() -> None:
    services = _compose()["services"]
    published = {name: service.get("ports", []) for name, service in services.items()}
    assert set(n for n, ports in published.items() if ports) == {"gateway", "dashboard", "kibana"}
    for name, ports in published.items():
        for port in ports:
            assert str(port).startswith("${BIND_ADDRESS:-127.0.0.1}:"), (name, port)


def test_the_dashboard_asks_for_a_login() -> None:
    dashboard = _compose()["services"]["dashboard"]
    env = dashboard["environment"]
    assert env["DASHBOARD_USERS"].startswith("${DASHBOARD_USERS:?")
    assert "ALLOW_OPEN_DASHBOARD" not in env and env["ENVIRONMENT"].startswith("${ENVIRONMENT:-production}")
    assert dashboard["healthcheck"]["test"] == ["CMD", "python", "/app/deploy/healthcheck.py", "dashboard"]
    # the image's own check too: a 401 asking for the login is a live dashboard
    assert '"/app/deploy/healthcheck.py", "dashboard"' in (ROOT / "Dockerfile.monitoring").read_text()


def test_env_example_documents_every_variable_and_leaves_secrets_empty() -> None:
    example = (ROOT / ".env.example").read_text()
    assigned = dict(re.findall(r"^([A-Z_][A-Z0-9_]*)=(.*)$", example, re.MULTILINE))
    for secret in ("PSEUDONYMISATION_KEY", "API_KEYS", "ELASTIC_PASSWORD", "DASHBOARD_USERS", "KIBANA_PASSWORD"):
        assert assigned[secret] == "", secret
    assert assigned["BIND_ADDRESS"] == "127.0.0.1"
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", (ROOT / "compose.yaml").read_text()))
    assert used - set(assigned) == set()
    if shutil.which("git") and (ROOT / ".git").exists():
        ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT, timeout=30)
        assert ignored.returncode == 0, ".env (the real secrets) must be git-ignored"


# --- Dockerfiles ----------------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_is_hadolint_clean(dockerfile: str) -> None:
    done = subprocess.run([_binary("hadolint"), str(ROOT / dockerfile)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_rules(dockerfile: str) -> None:
    text = (ROOT / dockerfile).read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert len(stages) >= 2, "multi-stage"
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text and set(stages) == {"${PYTHON_IMAGE}"}
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("0", "root"), "the last USER is not root"
    assert re.search(r"^HEALTHCHECK .*\n\s+CMD \[", text, re.MULTILINE)
    assert "--require-hashes" in text, "pinned, hash-checked dependencies"
    for name in SECRET_NAMES:
        assert not re.search(rf"^\s*(ENV|ARG)\b.*{name}", text, re.MULTILINE), f"{name} set in the image"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_copied_paths_exist_and_pass_the_dockerignore(dockerfile: str) -> None:
    allowed = [
        line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")
    ]
    sources = re.findall(r"^COPY\s+(?!--from)(\S+)\s", (ROOT / dockerfile).read_text(), re.MULTILINE)
    assert sources
    for source in sources:
        source = source.rstrip("/")
        assert any(source == a or source.startswith(a + "/") for a in allowed), f"{source} is dockerignored"
        if source != "models/default":  # built by `make bundle` / CI, not versioned
            assert (ROOT / source).exists(), source


def test_gateway_and_worker_locks_leave_out_what_they_do_not_need() -> None:
    gateway = _pins(ROOT / "requirements" / LOCKS["gateway"])
    assert {"scipy", "evidently", "dash", "pandas", "mlflow", "scikit-learn"} & set(gateway) == set()
    assert {"fastapi", "uvicorn", "onnxruntime", "uvloop", "httptools"} <= set(gateway)
    worker = _pins(ROOT / "requirements" / LOCKS["worker"])
    assert {"fastapi", "uvicorn", "scipy", "evidently", "dash", "pandas", "scikit-learn"} & set(worker) == set()
    assert {"rq", "redis", "elasticsearch", "onnxruntime"} <= set(worker)
    # LightGBM's wheel for its C library (TreeSHAP, the exact explanations, sync and async), without its SciPy
    assert "lightgbm" in gateway and "lightgbm" in worker


@pytest.mark.parametrize("image", sorted(LOCKS))
def test_lock_files_match_constraints_and_carry_hashes(image: str) -> None:
    lock = ROOT / "requirements" / LOCKS[image]
    constraints = _pins(ROOT / "constraints.txt")
    pins = _pins(lock)
    assert pins, lock
    stale = {n: (v, constraints[n]) for n, v in pins.items() if n in constraints and constraints[n] != v}
    assert stale == {}, "rerun requirements/compile.sh"
    assert lock.read_text().count("--hash=sha256:") >= len(pins)


# --- CI/CD ----------------------------------------------------------------------------------


def _workflow() -> dict[Any, Any]:
    return yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())


def test_workflow_is_actionlint_clean() -> None:
    done = subprocess.run([_binary("actionlint")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflow_order_and_deploy_guard() -> None:
    flow = _workflow()
    triggers = flow[True]  # YAML 1.1 reads the key `on` as True
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    jobs = flow["jobs"]
    assert jobs["test"]["needs"] == "lint"
    assert {"test", "bundle"} <= set(jobs["build"]["needs"])
    assert {"lint", "test", "build"} <= set(jobs["deploy"]["needs"])
    assert "refs/heads/main" in jobs["deploy"]["if"] and "push" in jobs["deploy"]["if"]
    assert jobs["build"]["permissions"]["packages"] == "write"
    es = jobs["test"]["services"]["elasticsearch"]
    assert re.search(r":9\.2\.\d+$", es["image"]) and es["env"]["discovery.type"] == "single-node"
    assert set(jobs["test"]["services"]) == {"redis", "elasticsearch"}


def test_workflow_takes_secrets_only_from_the_secret_store() -> None:
    text = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert "${{ secrets.HF_TOKEN }}" in text
    for match in re.finditer(r"^\s*(HF_TOKEN|[A-Z_]*(?:KEY|KEYS|TOKEN|PASSWORD)):\s*(.+)$", text, re.MULTILINE):
        assert match.group(2).startswith("${{ secrets."), match.group(0)


# --- Hugging Face Space ---------------------------------------------------------------------


def test_space_layout_builds_like_the_repository(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "deploy"))
    try:
        import hf_space
    finally:
        sys.path.remove(str(ROOT / "deploy"))
    root = tmp_path / "repo"
    for src, _ in hf_space.LAYOUT:
        source = ROOT / src
        if src == "models/default":
            (root / src).mkdir(parents=True)
            (root / src / "metadata.json").write_text("{}")
        elif source.is_dir():
            shutil.copytree(source, root / src, ignore=hf_space.IGNORED, dirs_exist_ok=True)
        else:
            (root / src).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / src)
    files = hf_space.prepare(tmp_path / "space", root=root)
    assert "Dockerfile" in files and "models/default/metadata.json" in files
    assert not [f for f in files if "__pycache__" in f]
    card = (tmp_path / "space" / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front["sdk"] == "docker" and front["app_port"] == 7860
    dockerfile = (tmp_path / "space" / "Dockerfile").read_text()
    for source in re.findall(r"^COPY\s+(?!--from)(\S+)\s", dockerfile, re.MULTILINE):
        assert (tmp_path / "space" / source).exists(), f"the Space lacks {source}"
    assert "EXPOSE 7860" in dockerfile


def test_space_processes_and_routes() -> None:
    procfile = (ROOT / "deploy" / "space" / "Procfile").read_text()
    commands = dict(re.findall(r"^([a-z]+):\s*(.+)$", procfile, re.MULTILINE))
    assert set(commands) == {"gateway", "dashboard", "scheduler", "proxy"}
    assert "python -m gateway" in commands["gateway"] and "PORT=8000" in commands["gateway"]
    assert "python -m monitoring dashboard" in commands["dashboard"]
    assert "python -m monitoring schedule" in commands["scheduler"]
    nginx = (ROOT / "deploy" / "space" / "nginx.conf").read_text()
    assert "listen 7860;" in nginx
    assert re.search(r"location /health/ \{ proxy_pass http://gateway; \}", nginx)
    assert re.search(r"location / \{ proxy_pass http://dashboard; \}", nginx)
    # the dashboard keeps its login behind the proxy: nothing opens it, the Space runs as production
    assert "ALLOW_OPEN_DASHBOARD" not in procfile + nginx
    dockerfile = (ROOT / "Dockerfile.space").read_text()
    assert "ENVIRONMENT=production" in dockerfile and "ALLOW_OPEN_DASHBOARD" not in dockerfile
    assert "auth_basic off" not in nginx and "proxy_set_header Authorization" not in nginx


def test_healthcheck_script_reports_unreachable_servers() -> None:
    script = str(ROOT / "deploy" / "healthcheck.py")
    clean = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "ELASTICSEARCH_URL")}
    embedded = subprocess.run([sys.executable, script, "deps"], capture_output=True, text=True, env=clean, timeout=30)
    assert embedded.returncode == 0 and "embedded" in embedded.stdout
    # port 9 (discard) on loopback: nothing listens there, so the connection is refused at once
    down = {**clean, "ELASTICSEARCH_URL": "http://127.0.0.1:9"}
    failed = subprocess.run([sys.executable, script, "deps"], capture_output=True, text=True, env=down, timeout=30)
    assert failed.returncode == 1 and "unhealthy" in failed.stderr


def test_healthcheck_script_sees_a_dashboard_behind_its_login(tmp_path: Path) -> None:
    from monitoring.dashboard.auth import BasicAuth
    from monitoring.dashboard.server import serve_in_thread

    script = str(ROOT / "deploy" / "healthcheck.py")
    running = serve_in_thread(BasicAuth(lambda env, start: [], {}))
    try:
        env = {**os.environ, "DASH_PORT": str(running.server.server_port)}
        done = subprocess.run([sys.executable, script, "dashboard"], capture_output=True, text=True, env=env,
                              timeout=30)
        assert done.returncode == 0 and "login required" in done.stdout, done.stderr
    finally:
        running.stop()
    down = {**os.environ, "DASH_PORT": "9"}
    failed = subprocess.run([sys.executable, script, "dashboard"], capture_output=True, text=True, env=down, timeout=30)
    assert failed.returncode == 1 and "unhealthy" in failed.stderr
