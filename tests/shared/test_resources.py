"""Process and host readings, and the per-service gauges in one registry and in multi-process mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from monitoring.resources import processes_from_multiprocess_dir
from shared.resources import ProcessSampler, ResourceGauges, gpu_present, host_sample, start_reporter


def test_process_sample_reads_this_process() -> None:
    sample = ProcessSampler("gateway").sample()
    assert sample["service"] == "gateway" and sample["pid"] == os.getpid()
    assert sample["rss_bytes"] > 1_000_000 and sample["open_fds"] >= 3 and sample["cpu_percent"] >= 0


def test_host_sample_has_cpu_and_memory() -> None:
    host = host_sample()
    assert 0 < host["memory_used_bytes"] <= host["memory_total_bytes"] and host["cpus"] >= 1
    assert 0 <= host["cpu_percent"] <= 100


def test_gauges_carry_the_service_label_and_no_gpu_series() -> None:
    registry = CollectorRegistry()
    ResourceGauges(registry).update(ProcessSampler("indexer").sample())
    text = generate_latest(registry).decode()
    for name in ("process_cpu_percent", "process_resident_memory_bytes", "process_open_fds"):
        assert f'{name}{{service="indexer"}}' in text
    assert "gpu" not in text.lower()
    assert isinstance(gpu_present(), bool)


def test_reporter_is_started_once_per_service_and_registry() -> None:
    registry = CollectorRegistry()
    first = start_reporter("dashboard", registry, interval=3600)
    try:
        assert start_reporter("dashboard", registry, interval=3600) is first
    finally:
        first.set()
    second = start_reporter("dashboard", registry, interval=3600)  # after a stop: a new thread, same gauges
    second.set()
    assert second is not first


_CHILD = """
import os, sys
from shared.resources import start_reporter
start_reporter(sys.argv[1], interval=3600)
print(os.getpid(), flush=True)
if sys.argv[2] == "crash":
    os._exit(0)  # no exit hook: the gauge file stays behind
"""


def _child(service: str, how: str, directory: Path) -> int:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    out = subprocess.run([sys.executable, "-c", _CHILD, service, how], env=env, capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2], timeout=60)
    return int(out.stdout.split()[0])


def test_each_process_reports_its_own_and_an_exit_removes_it(tmp_path: Path) -> None:
    crashed = _child("worker", "crash", tmp_path)
    _child("indexer", "exit", tmp_path)
    samples = processes_from_multiprocess_dir(str(tmp_path), alive=lambda pid: True)
    assert [(s["service"], s["pid"]) for s in samples] == [("worker", crashed)]
    assert samples[0]["rss_bytes"] > 1_000_000 and samples[0]["open_fds"] >= 3
    # the crashed process is gone: the default liveness check drops its leftover file
    assert processes_from_multiprocess_dir(str(tmp_path)) == []
