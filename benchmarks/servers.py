"""The servers the end-to-end benchmarks compare, each built as a :class:`Server` on a loopback port."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from benchmarks.common import BENCH_API_KEY, ROOT, VENV_PY, Server, bundle_dir

UVICORN_FLAGS = ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
BENCH_VENV = ROOT / ".bench-venv"
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def gateway(port: int, workers: int = 1, stream: str = "bench:events", **env: str) -> Server:
    """The gateway (``python -m gateway``) against the real Redis, events to ``stream``.

    Its own defaults otherwise (access log on, LOG_LEVEL INFO), as the image runs it; ``env`` overrides.
    """
    base = {
        "REDIS_URL": REDIS_URL, "MODEL_DIR": str(bundle_dir()), "API_KEYS": BENCH_API_KEY,
        "WEB_CONCURRENCY": str(workers), "EVENTS_STREAM": stream, "EVENTS_STREAM_MAXLEN": "0",
        "SPOOL_DIR": str(ROOT / "results" / "bench" / "spool" / str(port)),
    }
    base.update(env)
    return Server(f"gateway-{port}-w{workers}", [str(VENV_PY), "-m", "gateway", "--port", str(port)], base,
                  ready_url=f"http://127.0.0.1:{port}/health/ready")


def gateway_granian(port: int, workers: int = 1, stream: str = "bench:events", **env: str) -> Server:
    """The same gateway under granian (``HTTP_SERVER=granian python -m gateway``) instead of uvicorn."""
    server = gateway(port, workers, stream, **{"HTTP_SERVER": "granian", **env})
    server.name = f"gateway-granian-{port}-w{workers}"
    return server


def uvicorn_app(name: str, target: str, port: int, health: str = "/health", workers: int = 1,
                python: Path = VENV_PY, **env: str) -> Server:
    """A FastAPI app under uvicorn with the gateway's settings."""
    argv = [str(python), "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), *UVICORN_FLAGS]
    return Server(f"{name}-{port}-w{workers}", argv, {"MODEL_DIR": str(bundle_dir()), **env},
                  ready_url=f"http://127.0.0.1:{port}{health}")


def floor(port: int, workers: int = 1) -> Server:
    """The bare FastAPI endpoint (no work)."""
    return uvicorn_app("floor", "benchmarks.apps.floor:app", port, workers=workers)


def floor_granian(port: int, workers: int = 1) -> Server:
    """The bare FastAPI endpoint under granian (ASGI, uvloop)."""
    argv = [str(VENV_PY.with_name("granian")), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--loop", "uvloop", "--no-ws", "--log-level", "warning", "--no-access-log",
            "benchmarks.apps.floor:app"]
    return Server(f"floor-granian-{port}-w{workers}", argv, {"MODEL_DIR": str(bundle_dir())},
                  ready_url=f"http://127.0.0.1:{port}/health")


def baseline(port: int, workers: int = 1) -> Server:
    """The usual peer service: pydantic body, one-row pandas DataFrame, pandas encoding, sklearn LightGBM."""
    return uvicorn_app("pandas-sklearn", "benchmarks.apps.baseline:app", port, workers=workers)


MLSERVER_MODEL = "credit-scoring"


# MLServer at its best for one small model on this machine (stated with every comparison):
# inference in the server process, no gzip middleware, no Prometheus middleware; plus
# OMP_NUM_THREADS=1 in its environment and httptools in its venv (uvicorn then uses it).
MLSERVER_TUNED = {"parallel_workers": 0, "gzip_enabled": False, "metrics_endpoint": None}


def mlserver_repository(root: Path, settings: dict[str, Any] | None = None) -> Path:
    """A model repository for MLServer: the bundle's ``model.txt`` under its LightGBM runtime.

    ``settings`` are written to the repository's ``settings.json`` (MLServer reads it at start);
    None leaves MLServer's defaults.
    """
    import json

    from benchmarks.common import bundle_info

    info = bundle_info()
    root = root / str(info["version"]) / ("tuned" if settings else "defaults")
    root.mkdir(parents=True, exist_ok=True)
    settings_file = root / "settings.json"
    if settings:
        settings_file.write_text(json.dumps(settings))
    else:
        settings_file.unlink(missing_ok=True)
    model_dir = root / MLSERVER_MODEL
    model_dir.mkdir(parents=True, exist_ok=True)
    target = model_dir / "model.txt"
    if not target.exists():
        target.write_bytes((bundle_dir() / "model.txt").read_bytes())
    (model_dir / "model-settings.json").write_text(json.dumps({
        "name": MLSERVER_MODEL, "implementation": "mlserver_lightgbm.LightGBMModel",
        "parameters": {"uri": "./model.txt", "version": str(info["version"])},
    }))
    return root


# uvloop 0.21 is the release of MLServer 1.7.1's time: with 0.22+ its default inference worker process
# fails to start ("There is no current event loop in thread 'MainThread'").
MLSERVER_PACKAGES = ("mlserver==1.7.1", "mlserver-lightgbm==1.7.1", "httptools", "uvloop==0.21.0")


def mlserver_available(install: bool = True) -> bool:
    """True when MLServer's own venv (``.bench-venv``, git-ignored) is there; creates it when ``install``.

    MLServer's pins conflict with ours, hence a venv of its own, made with this interpreter:
    ``python -m venv .bench-venv && .bench-venv/bin/pip install`` the ``MLSERVER_PACKAGES``.
    """
    import subprocess
    import sys

    mlserver_bin = BENCH_VENV / "bin" / "mlserver"
    if not mlserver_bin.is_file() and install:
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run([str(BENCH_VENV / "bin" / "pip"), "install", "-q", *MLSERVER_PACKAGES], check=True)
    elif mlserver_bin.is_file() and install:  # an older venv: bring it to the same packages (quick when they are)
        subprocess.run([str(BENCH_VENV / "bin" / "pip"), "install", "-q", *MLSERVER_PACKAGES], check=True)
    return mlserver_bin.is_file()


def mlserver(port: int, repository: Path, **extra_env: str) -> Server:
    """MLServer (own venv) on ``port`` (V2 REST), gRPC and metrics on the next two ports.

    What else it runs with comes from the repository's ``settings.json`` (:func:`mlserver_repository`)
    and ``extra_env``.
    """
    argv = [str(BENCH_VENV / "bin" / "mlserver"), "start", str(repository)]
    env = {"MLSERVER_HTTP_PORT": str(port), "MLSERVER_HOST": "127.0.0.1", "MLSERVER_GRPC_PORT": str(port + 1),
           "MLSERVER_METRICS_PORT": str(port + 2), "MLSERVER_LOGGING_LEVEL": "WARNING",
           "PATH": f"{BENCH_VENV / 'bin'}:{os.environ.get('PATH', '')}", "PYTHONPATH": "", **extra_env}
    return Server(f"mlserver-{port}", argv, env, ready_url=f"http://127.0.0.1:{port}/v2/models/{MLSERVER_MODEL}/ready")
