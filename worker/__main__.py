"""Command line: ``python -m worker pool --processes N`` or ``python -m worker indexer``."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading

from shared.logs import configure_logging
from worker.settings import WorkerSettings

logger = logging.getLogger("worker")


def _run_indexer(settings: WorkerSettings) -> None:
    try:
        indexer_module = importlib.import_module("worker.indexer")
    except ImportError as exc:
        raise SystemExit(f"worker.indexer is not available: {exc}") from exc
    from shared.redis_client import make_redis
    from shared.resources import start_reporter
    from shared.store.factory import make_store

    if not settings.redis_url:
        raise SystemExit("REDIS_URL is required for the indexer (embedded mode runs one inside the gateway)")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    from shared.shadow import follow_challenger

    store = make_store(settings)  # set up (waiting for the server) by run_forever
    redis = make_redis(settings)
    shadow, challenger = follow_challenger(redis, settings)  # no challenger published: nothing is shadowed
    indexer = indexer_module.Indexer(
        redis=redis, store=store, stream=settings.events_stream,
        group=settings.indexer_group, consumer=settings.indexer_consumer, batch_size=settings.indexer_batch_size,
        block_ms=settings.indexer_block_ms, linger_ms=settings.indexer_linger_ms, shadow=shadow,
    )
    start_reporter("indexer")
    logger.info("indexer starting", extra={"stream": settings.events_stream, "consumer": settings.indexer_consumer})
    try:
        indexer.run_forever(stop)
    finally:
        challenger.stop()
        store.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m worker``."""
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    pool = commands.add_parser("pool", help="run the RQ worker pool (scoring jobs)")
    pool.add_argument("--processes", type=int, default=None, help="worker processes (default: PROCESSES or 2)")
    pool.add_argument("--burst", action="store_true", help="quit once the queue is empty")
    commands.add_parser("indexer", help="move events from the Redis Stream to the store")
    args = parser.parse_args(argv)
    settings = WorkerSettings()
    configure_logging(settings.log_level, settings.pseudonymisation_key)
    if args.command == "pool":
        from worker.pool import run_pool

        run_pool(settings, processes=args.processes, burst=args.burst)
    else:
        _run_indexer(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
