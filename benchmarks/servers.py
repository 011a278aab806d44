"""The servers the end-to-end benchmarks compare, each built as a :class:`Server` on a loopback port."""

from __future__ import annotations

import os
from pathlib import Path

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


def baseline(port: int, workers: int = 1) -> Server:
    """The usual peer service: pydantic body, one-row pandas DataFrame, pandas encoding, sklearn LightGBM."""
    return uvicorn_app("pandas-sklearn", "benchmarks.apps.baseline:app", port, workers=workers)


MLSERVER_MODEL = "credit-scoring"


def mlserver_repository(root: Path) -> Path:
    """A model repository for MLServer: the bundle's ``model.txt`` under its LightGBM runtime."""
    import json

    from benchmarks.common import bundle_info

    info = bundle_info()
    model_dir = root / str(info["version"]) / MLSERVER_MODEL
    model_dir.mkdir(parents=True, exist_ok=True)
    target = model_dir / "model.txt"
    if not target.exists():
        target.write_bytes((bundle_dir() / "model.txt").read_bytes())
    (model_dir / "model-settings.json").write_text(json.dumps({
        "name": MLSERVER_MODEL, "implementation": "mlserver_lightgbm.LightGBMModel",
        "parameters": {"uri": "./model.txt", "version": str(info["version"])},
    }))
    return model_dir.parent


def mlserver_available() -> bool:
    """True when the MLServer venv exists (see docs/optimisation.md for its install)."""
    return (BENCH_VENV / "bin" / "mlserver").is_file()


def mlserver(port: int, repository: Path, parallel_workers: int = 0, **extra_env: str) -> Server:
    """MLServer (own venv) on ``port`` (V2 REST), gRPC and metrics on the next two ports.

    ``parallel_workers=0`` runs inference in the server process (fastest for a small model);
    MLServer's default, 1, sends each request to a separate inference process.
    """
    argv = [str(BENCH_VENV / "bin" / "mlserver"), "start", str(repository)]
    env = {"MLSERVER_HTTP_PORT": str(port), "MLSERVER_HOST": "127.0.0.1", "MLSERVER_GRPC_PORT": str(port + 1),
           "MLSERVER_METRICS_PORT": str(port + 2), "MLSERVER_PARALLEL_WORKERS": str(parallel_workers),
           "MLSERVER_LOGGING_LEVEL": "WARNING", "PATH": f"{BENCH_VENV / 'bin'}:{os.environ.get('PATH', '')}",
           "PYTHONPATH": "", **extra_env}
    return Server(f"mlserver-{port}-pw{parallel_workers}", argv, env,
                  ready_url=f"http://127.0.0.1:{port}/v2/models/{MLSERVER_MODEL}/ready")
