"""Resource samples of a simulated stack (two gateway workers, two RQ workers, indexer, scheduler, dashboard).

Used by the browser tests and the dashboard screenshots: one sample per process
per ``step``, the host, Redis and one Elasticsearch node; the second RQ worker's
memory climbs (what the memory-growth rule is for).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

MIB = 1024 * 1024
PROCESSES = (("gateway", 101, 180), ("gateway", 102, 185), ("worker", 201, 210), ("worker", 202, 205),
             ("indexer", 301, 120), ("scheduler", 401, 260), ("dashboard", 501, 150))


def resource_samples(end: datetime, hours: float = 6.0, step: timedelta = timedelta(minutes=5)) -> list[dict[str, Any]]:
    """Samples every ``step`` over the ``hours`` before ``end``."""
    out: list[dict[str, Any]] = []
    steps = int(timedelta(hours=hours) / step)
    for i in range(steps + 1):
        moment = end - timedelta(hours=hours) + i * step
        stamp = moment.isoformat().replace("+00:00", "Z")
        daytime = 0.5 + 0.5 * math.sin(i / steps * math.pi)  # load rises and falls over the window
        key = f"{moment:%Y%m%dT%H%M%S}"
        for service, pid, rss_mib in PROCESSES:
            leak = i * 0.6 if pid == 202 else 0.0
            cpu = {"gateway": 35, "worker": 25, "indexer": 10, "scheduler": 4, "dashboard": 2}[service] * daytime
            out.append({"sample_id": f"{key}-process-{service}-{pid}", "timestamp": stamp, "kind": "process",
                        "service": service, "pid": pid, "cpu_percent": round(cpu + (pid % 7), 1),
                        "rss_bytes": int((rss_mib + leak) * MIB), "open_fds": 20 + pid % 13})
        out.append({"sample_id": f"{key}-host", "timestamp": stamp, "kind": "host", "cpus": 2,
                    "cpu_percent": round(20 + 55 * daytime, 1), "memory_percent": round(48 + 6 * daytime, 1),
                    "memory_total_bytes": 8192 * MIB, "memory_used_bytes": int((3900 + 500 * daytime) * MIB)})
        out.append({"sample_id": f"{key}-redis", "timestamp": stamp, "kind": "redis",
                    "used_memory_bytes": int((12 + 8 * daytime) * MIB), "connected_clients": 9,
                    "ops_per_sec": int(900 * daytime)})
        out.append({"sample_id": f"{key}-es-node-1", "timestamp": stamp, "kind": "elasticsearch", "node": "node-1",
                    "heap_percent": round(45 + 25 * daytime, 1), "disk_used_percent": round(41 + i * 0.01, 2),
                    "process_cpu_percent": round(30 * daytime, 1)})
    return out
