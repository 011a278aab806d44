"""The heavy objects of one gateway process, built in the lifespan and closed at shutdown."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from rq import Queue

from gateway.metrics import GatewayMetrics
from gateway.services.jobs import JobService
from gateway.services.outcomes import OutcomeGateway
from gateway.services.scoring import ScoringService
from gateway.settings import GatewaySettings
from shared.jobs import JOB_SERIALIZER
from shared.model_holder import ChampionFollower, ModelHolder, follow_champion
from shared.redis_client import make_redis
from shared.scorer import Scorer

logger = logging.getLogger(__name__)
NO_WORKER = "worker code not installed in the gateway alone: without REDIS_URL, run python -m embedded"


class Companion(Protocol):
    """What runs beside the gateway in embedded mode (the in-process worker and indexer; see ``embedded/``)."""

    worker_error: str | None
    indexer_error: str | None

    def start(self) -> None: ...  # pragma: no cover

    def stop(self) -> None: ...  # pragma: no cover

    def stop_indexer(self) -> None: ...  # pragma: no cover

    @property
    def worker_started(self) -> bool: ...  # pragma: no cover

    @property
    def worker_alive(self) -> bool: ...  # pragma: no cover

    @property
    def indexer_alive(self) -> bool: ...  # pragma: no cover


# (fakeredis server, settings, scorer, publisher) -> the companion, not started
CompanionFactory = Callable[[Any, GatewaySettings, Scorer, Any], Companion]


@dataclass
class Resources:
    """Everything the routes reach through :mod:`gateway.deps`."""

    settings: GatewaySettings
    metrics: GatewayMetrics
    redis: Any
    publisher: Any
    scorer: Scorer | None = None
    scorer_error: str | None = None
    scoring: ScoringService | None = None
    jobs: JobService | None = None
    embedded: Companion | None = None
    holder: ModelHolder | None = None
    follower: ChampionFollower | None = None
    outcomes: OutcomeGateway | None = None
    started_at: float = field(default_factory=time.time)

    def use_scorer(self, scorer: Scorer) -> None:
        """Serve the next requests with ``scorer`` (a new champion; requests in flight keep theirs)."""
        self.scorer = scorer
        if self.scoring is not None:
            self.scoring.scorer = scorer
            self.scoring.core.scorer = scorer
        use = getattr(self.embedded, "use_scorer", None)
        if use is not None:
            use(scorer)

    def reload(self) -> None:
        """Load ``MODEL_DIR`` again beside the current model, check it, swap (``SIGHUP`` in embedded mode)."""
        if self.holder is None:
            logger.warning("reload ignored: no model was loaded at start")
            return
        try:
            self.holder.load(self.settings.model_dir, self.settings.scorer_threads)
        except Exception as exc:
            logger.error("reload failed: still serving the current model", extra={"error": str(exc)[:300]})

    def close(self) -> None:
        """Stop the champion follower and the embedded threads, flush the publisher, close Redis."""
        if self.follower is not None:
            self.follower.stop()
        if self.embedded is not None:
            self.embedded.stop()
        try:
            self.publisher.close()
        except Exception:
            logger.exception("event publisher did not close cleanly")
        if self.embedded is not None:
            self.embedded.stop_indexer()
        try:
            self.redis.close()
        except Exception:
            logger.debug("redis close failed", exc_info=True)
        if self.outcomes is not None:
            self.outcomes.close()


def _redis(settings: GatewaySettings) -> tuple[Any, Any, Any]:
    """(queue client, publisher client, fake server or None)."""
    if settings.embedded:
        import fakeredis

        server = fakeredis.FakeServer()
        return fakeredis.FakeRedis(server=server), fakeredis.FakeRedis(server=server), server
    assert settings.redis_url
    options = {"socket_timeout": settings.redis_timeout_s, "socket_connect_timeout": settings.redis_timeout_s,
               "health_check_interval": 30}
    return make_redis(settings, **options), make_redis(settings, **options), None


def build_resources(settings: GatewaySettings, metrics: GatewayMetrics, publisher_factory: Any = None,
                    companion_factory: CompanionFactory | None = None) -> Resources:
    """Load the scorer and connect what the settings describe.

    A bundle that cannot be loaded does not stop the process: ``/health/ready``
    says why and the scoring routes answer 503, so the operator sees the cause.

    Args:
        settings: gateway settings.
        metrics: the app's metrics.
        publisher_factory: builds the event publisher from ``(redis, settings)``; defaults to
            :class:`shared.publisher.EventPublisher`.
        companion_factory: builds the in-process worker and indexer of embedded mode (``embedded/``);
            without it, embedded mode has no worker and ``POST /v1/jobs`` answers 503.
    """
    redis, publisher_redis, server = _redis(settings)
    if publisher_factory is None:
        from shared.publisher import EventPublisher

        def publisher_factory(client: Any, s: GatewaySettings) -> Any:
            return EventPublisher.from_settings(s, client, autostart=False)

    publisher = publisher_factory(publisher_redis, settings)
    publisher.start()
    resources = Resources(settings=settings, metrics=metrics, redis=redis, publisher=publisher,
                          outcomes=OutcomeGateway(settings))  # outcomes need no model: built before it loads
    try:
        start = time.perf_counter()
        resources.scorer = Scorer.load(settings.model_dir, threads=settings.scorer_threads)
        logger.info("scorer loaded", extra={"model_version": resources.scorer.model_version,
                                            "bundle": str(settings.model_dir),
                                            "load_ms": round((time.perf_counter() - start) * 1000, 1)})
    except Exception as exc:
        resources.scorer_error = f"model bundle {settings.model_dir} not loaded: {exc}"
        logger.error("scorer not loaded: the scoring routes will answer 503",
                     extra={"bundle": str(settings.model_dir), "error": str(exc)})
        return resources
    resources.scoring = ScoringService(resources.scorer, publisher, metrics, settings)
    if settings.embedded:
        resources.holder = ModelHolder(resources.scorer, on_swap=resources.use_scorer)
    else:  # the registry's champion, followed through Redis (MODEL_DIR until one is published)
        resources.follower = follow_champion(resources.scorer, redis, settings, resources.use_scorer)
        resources.holder = resources.follower.holder
    queue = Queue(settings.queue_name, connection=redis, serializer=JOB_SERIALIZER)
    unavailable = None
    if server is not None and companion_factory is not None:
        resources.embedded = companion_factory(server, settings, resources.scorer, publisher)
        resources.embedded.start()
        if settings.embedded_worker and not resources.embedded.worker_started:
            unavailable = resources.embedded.worker_error
    elif server is not None and settings.embedded_worker:
        unavailable = NO_WORKER
    resources.jobs = JobService(None if unavailable else queue, resources.scoring, settings, metrics, unavailable)
    return resources
