"""Which model serves: the champion notice the registry publishes and the serving processes follow.

With ``REDIS_URL`` set, ``python -m training promote`` / ``rollback`` write the
new champion under :data:`CHAMPION_KEY` (read by every serving process at
start) and publish it on :data:`CHAMPION_CHANNEL` (followed while running).
The notice names the bundle by location only: a local path or ``file://`` URI
(the default MLflow store), or an ``http(s)://`` / ``mlflow-artifacts:`` URI
served by an MLflow tracking server's artifact API. Serving never imports
``mlflow``: :func:`fetch_bundle` copies the few files of a bundle over plain
HTTP when it is remote.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

CHAMPION_KEY = "scoring:model:champion"
CHAMPION_CHANNEL = "scoring:model:champion"
CHALLENGER_KEY = "scoring:model:challenger"
CHALLENGER_CHANNEL = "scoring:model:challenger"
BUNDLE_FILES = ("metadata.json", "model.onnx", "model.txt", "reference.jsonl.gz", "model_card.md")
REQUIRED_FILES = ("metadata.json", "model.onnx")


@dataclass(frozen=True)
class ChampionNotice:
    """One registry move as the serving processes see it."""

    model_version: str  # the MLflow registered version ("3")
    bundle_uri: str
    action: str = "promote"
    at: str = ""

    def to_json(self) -> bytes:
        """The notice as stored and published."""
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str | None) -> ChampionNotice | None:
        """Parse a stored or published notice; None when absent or unreadable."""
        if not raw:
            return None
        try:
            data: Any = orjson.loads(raw)
            return cls(str(data["model_version"]), str(data["bundle_uri"]), str(data.get("action", "promote")),
                       str(data.get("at", "")))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None


def local_path(uri: str) -> Path | None:
    """The directory a ``file://`` URI or plain path names, or None for a remote URI."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(urllib.parse.unquote(parsed.path) if parsed.scheme else uri)
    return None


def _http_base(uri: str, tracking_uri: str | None) -> str:
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme in ("http", "https"):
        return uri.rstrip("/")
    if parsed.scheme == "mlflow-artifacts":
        server = (tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")).rstrip("/")
        if not server.startswith(("http://", "https://")):
            raise ValueError(f"{uri}: an mlflow-artifacts URI needs MLFLOW_TRACKING_URI=http(s)://...")
        return f"{server}/api/2.0/mlflow-artifacts/artifacts{parsed.path}".rstrip("/")
    raise ValueError(f"{uri}: unsupported bundle location (a path, file://, http(s):// or mlflow-artifacts:)")


def fetch_bundle(uri: str, cache_dir: Path, tracking_uri: str | None = None, timeout: float = 30.0) -> Path:
    """A local directory holding the bundle at ``uri`` (copied into ``cache_dir`` when remote).

    Raises:
        FileNotFoundError: a required file (metadata.json, model.onnx) is missing.
        ValueError: the URI's scheme is not supported.
        OSError: the download failed.
    """
    path = local_path(uri)
    if path is not None:
        missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{uri}: no {', '.join(missing)}")
        return path
    base = _http_base(uri, tracking_uri)
    target = cache_dir / urllib.parse.quote(uri, safe="")
    if (target / "metadata.json").is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".fetch-"))
    try:
        for name in BUNDLE_FILES:
            try:
                with urllib.request.urlopen(f"{base}/{name}", timeout=timeout) as response:  # noqa: S310
                    (staging / name).write_bytes(response.read())
            except urllib.error.HTTPError as exc:
                if name in REQUIRED_FILES or exc.code != 404:
                    raise OSError(f"{base}/{name}: HTTP {exc.code}") from exc
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
