"""Smoke-test one built image: it starts, its own HEALTHCHECK passes, it holds only what it should.

Works with docker (CI) and podman (this project's machines have no Docker engine). The
HEALTHCHECK command is read from the image and run with ``exec`` until it passes, so the
check does not depend on the engine scheduling health checks (podman needs systemd for it).

    python deploy/smoke_image.py gateway ghcr.io/o/r/credit-scoring-gateway:sha \
        --env REDIS_URL=redis://127.0.0.1:6379/0 --env ELASTICSEARCH_URL=http://127.0.0.1:9200

Checks, per kind (see KINDS): the container becomes healthy within ``--timeout`` seconds;
``pip list`` in the image has none of the forbidden distributions; the image size is at most
the limit; the process runs as a non-root user. Exit status 0 when all pass.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field

MB = 1000 * 1000  # docker and podman report sizes in decimal megabytes


@dataclass(frozen=True)
class Kind:
    """What one image must and must not be."""

    forbidden: tuple[str, ...]
    max_mb: int | None = None
    command: tuple[str, ...] = ()  # empty = the image's CMD
    env: dict[str, str] = field(default_factory=dict)
    health: tuple[str, ...] = ()  # empty = the image's HEALTHCHECK (compose.yaml overrides it likewise)
    host_network: bool = True  # False: own network namespace (needs no server; no port clash with the host)
    ready_url: str = ""  # a /health/ready whose every check must say ok (not only the gating ones)


KINDS: dict[str, Kind] = {
    "gateway": Kind(
        forbidden=("scipy", "evidently", "dash", "pandas", "scikit-learn", "mlflow"),
        max_mb=400,
        ready_url="http://127.0.0.1:{PORT}/health/ready",
    ),
    "worker": Kind(forbidden=("fastapi", "uvicorn", "scipy", "evidently", "dash", "pandas", "mlflow")),
    "indexer": Kind(
        forbidden=("fastapi", "scipy", "evidently", "dash", "pandas"),
        command=("python", "-m", "worker", "indexer"),
        health=("python", "/app/deploy/healthcheck.py", "deps"),
    ),
    "monitoring": Kind(forbidden=("fastapi", "mlflow"), env={"DASH_HOST": "127.0.0.1"}),
    "scheduler": Kind(
        forbidden=("fastapi", "mlflow"),
        command=("python", "-m", "monitoring", "schedule"),
        health=("python", "/app/deploy/healthcheck.py", "deps"),
    ),
    "space": Kind(
        forbidden=("mlflow", "onnxmltools"),
        host_network=False,
        ready_url="http://127.0.0.1:7860/health/ready",
    ),
}


def _say(message: str) -> None:
    sys.stderr.write(f"smoke: {message}\n")


def _run(engine: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([engine, *args], capture_output=True, text=True, check=check)


def _healthcheck(engine: str, image: str) -> list[str]:
    raw = _run(engine, "image", "inspect", "-f", "{{json .Config.Healthcheck}}", image).stdout.strip()
    test = (json.loads(raw) or {}).get("Test") if raw and raw != "null" else None
    if not test or test[0] not in ("CMD", "CMD-SHELL"):
        raise SystemExit(f"smoke: {image} has no HEALTHCHECK")
    return list(test[1:]) if test[0] == "CMD" else ["sh", "-c", test[1]]


def _wait_healthy(engine: str, name: str, check: list[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        running = _run(engine, "inspect", "-f", "{{.State.Running}}", name, check=False).stdout.strip()
        if running != "true":
            raise RuntimeError(f"container stopped before it was healthy; last check: {last}")
        probe = _run(engine, "exec", name, *check, check=False)
        last = (probe.stdout + probe.stderr).strip()[-300:]
        if probe.returncode == 0:
            return last
        time.sleep(1)
    raise RuntimeError(f"not healthy after {timeout:.0f} s; last check: {last}")


# run inside the container: the readiness checks that are not ok, as JSON
_NOT_OK = (
    "import json, os, urllib.request\n"
    "url = {url!r}.replace('{{PORT}}', os.environ.get('PORT', '8000'))\n"
    "checks = json.load(urllib.request.urlopen(url, timeout=10))['checks']\n"
    "print(json.dumps({{k: v for k, v in checks.items() if not v.get('ok')}}))"
)


def _not_ok(engine: str, name: str, url: str) -> dict[str, object]:
    done = _run(engine, "exec", name, "python", "-c", _NOT_OK.format(url=url), check=False)
    if done.returncode != 0:
        return {"readiness": done.stderr.strip()[-300:]}
    return dict(json.loads(done.stdout))


def smoke(args: argparse.Namespace) -> list[str]:
    """Run the checks of ``args.kind`` on ``args.image``; return the failures (empty = pass)."""
    kind, engine, image = KINDS[args.kind], args.engine, args.image
    failures: list[str] = []

    size_mb = int(_run(engine, "image", "inspect", "-f", "{{.Size}}", image).stdout.strip()) / MB
    _say(f"{image}: {size_mb:.0f} MB")
    if kind.max_mb is not None and size_mb > kind.max_mb:
        failures.append(f"image is {size_mb:.0f} MB, more than {kind.max_mb} MB")

    listed = _run(engine, "run", "--rm", "--entrypoint", "python", image, "-m", "pip", "list", "--format", "json")
    installed = {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)}
    found = sorted(installed & set(kind.forbidden))
    _say(f"{len(installed)} distributions; forbidden ones present: {found or 'none'}")
    if found:
        failures.append(f"forbidden distributions in the image: {found}")

    env = {
        "PSEUDONYMISATION_KEY": secrets.token_urlsafe(32),
        "API_KEYS": secrets.token_urlsafe(24),
        **kind.env,
        **dict(e.split("=", 1) for e in args.env),
    }
    name = f"smoke-{args.kind}-{os.getpid()}"
    run = [engine, "run", "-d", "--name", name, *(["--network", "host"] if kind.host_network else [])]
    for key, value in env.items():
        run += ["-e", f"{key}={value}"]
    subprocess.run([*run, image, *kind.command], check=True, capture_output=True, text=True)
    try:
        check = list(kind.health) or _healthcheck(engine, image)
        verdict = _wait_healthy(engine, name, check, args.timeout)
        _say(f"healthy: {verdict or 'ok'}")
        if kind.ready_url:
            not_ok = _not_ok(engine, name, kind.ready_url)
            _say(f"readiness checks not ok: {not_ok or 'none'}")
            if not_ok:
                failures.append(f"/health/ready reports {not_ok}")
        uid = _run(engine, "exec", name, "id", "-u").stdout.strip()
        _say(f"runs as uid {uid}")
        if uid == "0":
            failures.append("the container runs as root")
    except RuntimeError as exc:
        failures.append(str(exc))
        logs = _run(engine, "logs", "--tail", "60", name, check=False)
        sys.stderr.write(logs.stdout + logs.stderr)
    finally:
        _run(engine, "rm", "-f", name, check=False)
    return failures


def main(argv: list[str] | None = None) -> int:
    """Command line: one image, its kind, extra env; exit 1 on any failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("image")
    parser.add_argument("--engine", default=os.environ.get("ENGINE", "docker"))
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the container (repeatable)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to become healthy")
    args = parser.parse_args(argv)
    failures = smoke(args)
    for failure in failures:
        _say(f"FAIL {failure}")
    _say("PASS" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
