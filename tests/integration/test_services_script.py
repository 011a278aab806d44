"""scripts/services.sh against the real servers that `make services` started.

Only the harmless paths are exercised here (status, a second start, ports taken by
something else): stopping the servers would pull them from under the other tests.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.utils.servers import require_elasticsearch, require_redis

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "services.sh"
REDIS_PORT = os.environ.get("REDIS_PORT", "6379")
ES_PORT = os.environ.get("ES_PORT", "9200")


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the script with extra environment variables; never reads stdin."""
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=240,
        check=False,
    )


@pytest.fixture(autouse=True)
def _servers() -> None:
    require_redis()
    require_elasticsearch()


def pids(status_output: str) -> dict[str, str]:
    """The pid per server in a `status` output (absent for a reused server)."""
    return dict(re.findall(r"(Redis|Elasticsearch):.*?pid (\d+)", status_output))


def test_status_says_where_each_server_runs() -> None:
    result = run("status")

    assert result.returncode == 0, result.stderr
    assert re.search(rf"Redis: +running on 127\.0\.0\.1:{REDIS_PORT}, ", result.stdout), result.stdout
    assert re.search(rf"Elasticsearch: running on 127\.0\.0\.1:{ES_PORT}, ", result.stdout), result.stdout
    assert re.search(r"cluster (green|yellow)", result.stdout), result.stdout


def test_second_start_reuses_the_running_servers() -> None:
    before = pids(run("status").stdout)

    result = run("start")

    assert result.returncode == 0, result.stderr
    assert "started on" not in result.stdout
    assert result.stdout.count("already running") + result.stdout.count("reused, not ours") == 2, result.stdout
    assert pids(run("status").stdout) == before


def test_redis_port_taken_by_another_server_is_one_clear_error(tmp_path: Path) -> None:
    result = run("start", SERVICES_DIR=str(tmp_path), REDIS_PORT=ES_PORT)

    assert result.returncode == 1
    assert f"port {ES_PORT} is taken by something that does not answer Redis PING" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_elasticsearch_port_taken_by_another_server_is_one_clear_error(tmp_path: Path) -> None:
    result = run("start", SERVICES_DIR=str(tmp_path), ES_PORT=REDIS_PORT)

    assert result.returncode == 1
    assert f"port {REDIS_PORT} is taken by something that does not speak HTTP" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_unknown_command_prints_usage() -> None:
    result = run("restart")

    assert result.returncode == 2
    assert "usage:" in result.stderr
