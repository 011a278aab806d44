"""The archive path past retention, on a node of its own started with ``path.repo``.

The shared server on 9200 has no ``path.repo`` (a node setting, fixed at start),
so this test starts a throw-away single node (scripts/es_archive_node.sh, the
distribution ``make services`` unpacked), snapshots the old daily indices to a
filesystem repository, checks they are dropped, and restores them under another name.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitoring.archive import archive, list_snapshots, register_repository, restore
from shared.store.elastic import ElasticsearchEventStore
from tests.utils.events import make_event

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "es_archive_node.sh"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def node() -> Iterator[tuple[str, Path]]:
    folder = Path(tempfile.mkdtemp(prefix="es-archive-"))
    port = _free_port()
    started = subprocess.run(["bash", str(SCRIPT), "start", str(port), str(folder)], capture_output=True, text=True,
                             timeout=240)
    if started.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        if "run 'make services' first" in started.stderr + started.stdout:
            pytest.skip("no unpacked Elasticsearch distribution under .services/ (run `make services`)")
        pytest.fail(f"archive node did not start:\n{started.stdout}\n{started.stderr}")
    try:
        yield f"http://127.0.0.1:{port}", folder
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(folder)], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def test_old_days_are_snapshotted_dropped_and_restorable(node: tuple[str, Path]) -> None:
    url, folder = node
    store = ElasticsearchEventStore(url, "archive-test")
    store.setup()
    now = datetime(2026, 6, 30, 12, tzinfo=UTC)
    old = [make_event(now - timedelta(days=100 + d, hours=i), event_id=f"old-{d}-{i}") for d in range(2)
           for i in range(5)]
    recent = [make_event(now - timedelta(days=1, hours=i), event_id=f"new-{i}") for i in range(3)]
    assert store.index_events(old + recent).indexed == 13
    store.refresh()
    register_repository(store, str(folder / "repo" / "scoring"))

    result = archive(store, days=90, now=now)
    assert result["state"] == "SUCCESS" and len(result["indices"]) == 2
    store.refresh()
    assert store.count_events() == 3  # only the recent day is left live
    assert [s["indices"] for s in list_snapshots(store)] == [result["indices"]]
    assert sum(f.stat().st_size for f in (folder / "repo").rglob("*") if f.is_file()) > 0

    restored = restore(store, result["snapshot"])
    assert restored == [f"restored-{name}" for name in result["indices"]]
    store.client.indices.refresh(index="restored-*")
    assert store.client.count(index="restored-*").body["count"] == 10
    assert archive(store, days=90, now=now)["snapshot"] is None  # nothing old is left
    store.close()
