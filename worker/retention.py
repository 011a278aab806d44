"""Retention: drop the events older than ``RETENTION_DAYS`` (whole daily indices in Elasticsearch).

The core Elasticsearch server has no ILM, so this is the deletion job; the
monitoring scheduler calls :func:`apply_retention` once a day, and
``python -m worker.retention [--days N]`` runs it by hand.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime

from shared.logs import configure_logging
from shared.store.base import EventStore
from shared.store.common import cutoff_day
from shared.store.factory import describe, make_store

logger = logging.getLogger("worker.retention")


def apply_retention(store: EventStore, days: int, now: datetime | None = None) -> int:
    """Drop the events of the UTC days before ``now - days`` and log what was dropped.

    Args:
        store: the event store.
        days: days of events kept (``RETENTION_DAYS``), at least 1.
        now: the reference time (default: now).

    Returns:
        How many days (daily indices) were dropped.

    Raises:
        ValueError: when ``days`` is below 1.
    """
    dropped = store.apply_retention(days, now)
    logger.info("retention: kept events from %s on (%d days), dropped %d day(s) in %s",
                cutoff_day(days, now), days, dropped, describe(store))
    return dropped


def main(argv: list[str] | None = None) -> int:
    """``python -m worker.retention``: apply the retention once, print what was dropped."""
    from worker.settings import WorkerSettings

    settings = WorkerSettings()
    parser = argparse.ArgumentParser(prog="python -m worker.retention", description=__doc__)
    parser.add_argument("--days", type=int, default=settings.retention_days,
                        help=f"days of events kept (default: RETENTION_DAYS = {settings.retention_days})")
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    configure_logging(settings.log_level, settings.pseudonymisation_key)
    store = make_store(settings)
    try:
        store.setup()
        dropped = apply_retention(store, args.days)
    finally:
        store.close()
    sys.stdout.write(f"retention {args.days} days ({describe(store)}): dropped {dropped} day(s) of events "
                     f"before {cutoff_day(args.days, datetime.now(UTC))}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
