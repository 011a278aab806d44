"""Resource use of a service process and of the host, read with psutil, exposed as Prometheus gauges.

Every service process (each gateway worker, each RQ worker, the indexer, the
scheduler, the dashboard) calls :func:`start_reporter` once: a daemon thread
then sets three gauges every few seconds, labelled with the service name:

- ``process_cpu_percent``: CPU use since the previous reading, in percent of one core;
- ``process_resident_memory_bytes``: resident set size;
- ``process_open_fds``: open file descriptors.

prometheus_client's own process collector does not run in its multi-process
mode, which the gateway uses with several workers. These gauges use the
``liveall`` multi-process mode instead: each process writes its own value to
``PROMETHEUS_MULTIPROC_DIR``, the collector reports one series per live
process (``pid`` label added), and a process that exits removes its file.
Without that directory they live in the registry given (the gateway's own).

There is no GPU metric unless a GPU is found (:func:`gpu_present`): absent,
never zero.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from pathlib import Path
from typing import Any

import psutil

logger = logging.getLogger("shared.resources")

PROCESS_GAUGES = {
    "process_cpu_percent": "CPU use of the process since the previous reading (percent of one core)",
    "process_resident_memory_bytes": "resident memory of the process",
    "process_open_fds": "open file descriptors of the process",
}
REPORT_INTERVAL_S = 10.0
_GAUGES: dict[int, tuple[Any, ResourceGauges]] = {}  # id(registry) -> (registry, gauges): registered once each
_GAUGES_LOCK = threading.Lock()
_RUNNING: dict[tuple[str, int], threading.Event] = {}  # a second call for the same service and registry reuses it


class ProcessSampler:
    """CPU, resident memory and open descriptors of one process.

    Args:
        service: the service name (``gateway``, ``worker``, ``indexer``, ``scheduler``, ``dashboard``...).
        pid: the process (default: this one).
    """

    def __init__(self, service: str, pid: int | None = None) -> None:
        self.service = service
        self.process = psutil.Process(pid)
        self.process.cpu_percent(None)  # the first reading only starts the interval

    def sample(self) -> dict[str, Any]:
        """``{"service", "pid", "cpu_percent", "rss_bytes", "open_fds"}`` now (CPU since the previous call)."""
        with self.process.oneshot():
            return {
                "service": self.service,
                "pid": self.process.pid,
                "cpu_percent": round(self.process.cpu_percent(None), 2),
                "rss_bytes": int(self.process.memory_info().rss),
                "open_fds": _open_fds(self.process),
            }


def _open_fds(process: psutil.Process) -> int | None:
    try:
        return int(process.num_fds())
    except (AttributeError, psutil.Error):  # num_fds is POSIX only
        return None


def host_sample() -> dict[str, Any]:
    """The host's CPU (percent of all cores, since the previous call) and memory."""
    memory = psutil.virtual_memory()
    return {
        "cpu_percent": round(psutil.cpu_percent(None), 2),
        "cpus": psutil.cpu_count() or 1,
        "load_1m": round(os.getloadavg()[0], 2),
        "memory_total_bytes": int(memory.total),
        "memory_used_bytes": int(memory.total - memory.available),
        "memory_percent": round(float(memory.percent), 2),
    }


def gpu_present() -> bool:
    """True when an NVIDIA GPU device node exists (``/dev/nvidia0``...); no GPU library is loaded for it."""
    return any(Path("/dev").glob("nvidia[0-9]*"))


def multiprocess_dir() -> str | None:
    """``PROMETHEUS_MULTIPROC_DIR`` when set and not empty."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class ResourceGauges:
    """The three process gauges, labelled by service (``liveall`` in multi-process mode).

    Args:
        registry: where the gauges are registered (the gateway's registry); None for a
            private one (a service without a /metrics route: in multi-process mode the
            values go to the shared directory whatever the registry, and the default
            registry already holds prometheus_client's own ``process_*`` collector).
    """

    def __init__(self, registry: Any = None) -> None:
        from prometheus_client import CollectorRegistry, Gauge

        target = registry if registry is not None else CollectorRegistry()
        self.gauges = {name: Gauge(name, doc, ["service"], registry=target, multiprocess_mode="liveall")
                       for name, doc in PROCESS_GAUGES.items()}

    def update(self, sample: dict[str, Any]) -> None:
        """Set the gauges from a :meth:`ProcessSampler.sample` (a missing figure leaves its gauge unset)."""
        service = sample["service"]
        for name, key in (("process_cpu_percent", "cpu_percent"), ("process_resident_memory_bytes", "rss_bytes"),
                          ("process_open_fds", "open_fds")):
            if sample.get(key) is not None:
                self.gauges[name].labels(service).set(sample[key])


def start_reporter(service: str, registry: Any = None, interval: float = REPORT_INTERVAL_S) -> threading.Event:
    """Report this process's resource gauges every ``interval`` seconds from a daemon thread.

    Args:
        service: the ``service`` label.
        registry: the registry of the gauges outside multi-process mode.
        interval: seconds between readings.

    Returns:
        An event: set it to stop the thread. While it runs, a second call for the
        same service and registry returns the same event.
    """
    with _GAUGES_LOCK:
        running = _RUNNING.get((service, id(registry)))
        entry = _GAUGES.get(id(registry))
        if running is not None and not running.is_set() and entry is not None and entry[0] is registry:
            return running
        if entry is None or entry[0] is not registry:
            entry = _GAUGES[id(registry)] = (registry, ResourceGauges(registry))
        stop = _RUNNING[(service, id(registry))] = threading.Event()
    gauges = entry[1]
    sampler = ProcessSampler(service)
    gauges.update(sampler.sample())

    def _loop() -> None:
        while not stop.wait(interval):
            try:
                gauges.update(sampler.sample())
            except Exception:  # a failed reading must never take the service down
                logger.exception("resource reading failed")

    threading.Thread(target=_loop, name=f"resources-{service}", daemon=True).start()
    if multiprocess_dir():
        atexit.register(_mark_dead, os.getpid())
    return stop


def _mark_dead(pid: int) -> None:
    from prometheus_client import multiprocess

    try:
        multiprocess.mark_process_dead(pid)
    except OSError:
        pass
