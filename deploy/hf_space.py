"""Deploy the embedded mode to a Hugging Face Docker Space (used by CI's deploy job).

    python deploy/hf_space.py prepare OUT             lay out the Space repository in OUT
    python deploy/hf_space.py deploy OUT --space owner/name [--timeout 1800]
                                                      upload OUT, set the Space secrets, wait until
                                                      the new revision runs; print its URL

The Space repository holds what Dockerfile.space copies, at the same paths, with
Dockerfile.space as ``Dockerfile`` and deploy/space/README.md (the Space card: sdk docker,
app_port 7860) as ``README.md``; so the image builds the same here and on the Hub.

Environment of ``deploy``: HF_TOKEN (write token; a GitHub secret), and optionally
SPACE_PSEUDONYMISATION_KEY and SPACE_API_KEYS, stored as the Space's secrets
PSEUDONYMISATION_KEY and API_KEYS (the image runs with ENVIRONMENT=production and refuses
to start without them). GITHUB_OUTPUT, when set, receives ``url=...`` and ``commit=...``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# (source in this repository, path in the Space repository)
LAYOUT: tuple[tuple[str, str], ...] = (
    ("Dockerfile.space", "Dockerfile"),
    ("deploy/space/README.md", "README.md"),
    ("requirements/space.txt", "requirements/space.txt"),
    ("shared", "shared"),
    ("gateway", "gateway"),
    ("worker", "worker"),
    ("embedded", "embedded"),
    ("monitoring", "monitoring"),
    ("deploy/space", "deploy/space"),
    ("models/default", "models/default"),
)
# remote files under these are ours: stale ones are deleted at each upload
MANAGED = ["shared/**", "gateway/**", "worker/**", "embedded/**", "monitoring/**", "deploy/**", "requirements/**",
           "models/**"]
SECRETS = {"PSEUDONYMISATION_KEY": "SPACE_PSEUDONYMISATION_KEY", "API_KEYS": "SPACE_API_KEYS"}
FAILED = {"BUILD_ERROR", "RUNTIME_ERROR", "CONFIG_ERROR", "NO_APP_FILE", "DELETING", "STOPPED", "PAUSED"}
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".DS_Store")


def _say(message: str) -> None:
    sys.stderr.write(f"hf-space: {message}\n")
    sys.stderr.flush()


def prepare(out: Path, root: Path = ROOT) -> list[str]:
    """Copy what the Space needs from ``root`` into ``out`` (emptied first).

    Returns:
        the relative paths of the files written, sorted.

    Raises:
        SystemExit: a source is missing (for instance no model bundle in models/default).
    """
    missing = [src for src, _ in LAYOUT if not (root / src).exists()]
    if missing:
        raise SystemExit(f"hf-space: missing {missing} (build the bundle first: make bundle)")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for src, dst in LAYOUT:
        source, target = root / src, out / dst
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=IGNORED, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


def _space_url(api: Any, space: str) -> str:
    host = getattr(api.space_info(space), "host", None)
    return host or "https://" + space.replace("/", "-").replace("_", "-").replace(".", "-").lower() + ".hf.space"


def _wait_running(api: Any, space: str, commit: str, timeout: float) -> None:
    """Wait until the Space runs ``commit`` (the runtime's sha when the Hub gives it)."""
    deadline, started, stage = time.monotonic() + timeout, time.monotonic(), ""
    seen_build = False
    while time.monotonic() < deadline:
        runtime = api.get_space_runtime(space)
        stage, sha = str(getattr(runtime.stage, "value", runtime.stage)), runtime.raw.get("sha")
        seen_build = seen_build or stage not in ("RUNNING", "SLEEPING")
        if stage in FAILED:
            raise SystemExit(f"hf-space: the Space is {stage}; see its build and container logs on the Hub")
        # without a sha from the Hub, a RUNNING seen before any build could still be the old revision
        fresh = sha == commit if sha else (seen_build or time.monotonic() - started > 120)
        if stage == "RUNNING" and fresh:
            return
        _say(f"stage {stage}, {int(deadline - time.monotonic())} s left")
        time.sleep(20)
    raise SystemExit(f"hf-space: not running after {timeout:.0f} s (last stage {stage})")


def deploy(folder: Path, space: str, timeout: float) -> str:
    """Upload ``folder`` to the Space, set its secrets, wait for the new revision; return the URL."""
    from huggingface_hub import HfApi  # only the deploy job installs it

    if not re.fullmatch(r"[\w.-]+/[\w.-]+", space):
        raise SystemExit(f"hf-space: {space!r} is not owner/name: set the repository variable HF_SPACE_ID")
    token = os.environ.get("HF_TOKEN")
    if not token:
        raise SystemExit("hf-space: HF_TOKEN is not set (a GitHub secret with write access to the Space)")
    api = HfApi(token=token)
    api.create_repo(space, repo_type="space", space_sdk="docker", exist_ok=True)
    for key, env in SECRETS.items():
        if os.environ.get(env):
            api.add_space_secret(space, key, os.environ[env])
            _say(f"secret {key} set from {env}")
        else:
            _say(f"{env} not given: the Space must already have its secret {key}")
    sha = os.environ.get("GITHUB_SHA", "local")[:12]
    info = api.upload_folder(
        repo_id=space,
        repo_type="space",
        folder_path=folder,
        commit_message=f"Deploy {sha}",
        delete_patterns=MANAGED,
    )
    commit = info.oid
    _say(f"uploaded as commit {commit}; waiting for the build")
    _wait_running(api, space, commit, timeout)
    url = _space_url(api, space)
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
            out.write(f"url={url}\ncommit={commit}\n")
    return url


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description="deploy the embedded mode to a Hugging Face Space")
    sub = parser.add_subparsers(dest="command", required=True)
    p_prepare = sub.add_parser("prepare", help="lay out the Space repository")
    p_prepare.add_argument("out", type=Path)
    p_deploy = sub.add_parser("deploy", help="upload, set secrets, wait until running")
    p_deploy.add_argument("folder", type=Path)
    p_deploy.add_argument("--space", required=True, help="owner/name of the Space")
    p_deploy.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the build")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        files = prepare(args.out)
        _say(f"{len(files)} files in {args.out}")
    else:
        sys.stdout.write(deploy(args.folder, args.space, args.timeout) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
