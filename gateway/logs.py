"""The gateway's loggers; the setup is :func:`shared.logs.configure_logging`, shared by every service."""

from __future__ import annotations

__all__ = ["ACCESS_LOGGER", "QUIET_LOGGERS"]

ACCESS_LOGGER = "gateway.access"
# RQ logs several INFO lines per job: the embedded worker keeps warnings only
QUIET_LOGGERS = ("rq.worker", "rq.job", "rq.scheduler")
