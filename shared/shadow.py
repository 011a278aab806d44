"""Shadow scoring: the challenger scores a share of live applications, off the answer's path.

The indexer, which reads every event before storing it, hands each batch of
documents to :meth:`ShadowScorer.annotate`: a share (``SHADOW_RATE``) of the
scored applications is scored again by the challenger, as one matrix, and
the result is stored on the champion's own event as
``shadow: {"model_version", "probability", "decision"}``. The client's answer
was sent long before, so its latency does not change.

The share is chosen by the event id (a hash below the rate), not at random:
an event read twice (a replay after an outage) gets the same verdict.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared.champion import CHALLENGER_CHANNEL, CHALLENGER_KEY
from shared.model_holder import ChampionFollower, ModelHolder

logger = logging.getLogger(__name__)


def sampled(event_id: str, rate: float) -> bool:
    """Whether an event falls in the shadowed share (deterministic per id)."""
    if rate <= 0:
        return False
    if rate >= 1:
        return True
    try:
        value = int(event_id[:8], 16) / 0xFFFFFFFF
    except (TypeError, ValueError):
        value = (hash(event_id) & 0xFFFFFFFF) / 0xFFFFFFFF
    return value < rate


class ShadowScorer:
    """Adds the challenger's score to a share of scored events.

    Args:
        holder: the challenger (``holder.current`` None: no challenger, nothing is added).
        rate: share of scored applications to shadow, 0 to 1.
    """

    def __init__(self, holder: ModelHolder, rate: float) -> None:
        self.holder = holder
        self.rate = rate
        self.scored = 0
        self.errors = 0

    def annotate(self, docs: Sequence[dict[str, Any]]) -> int:
        """Add ``shadow`` to the sampled "ok" documents; returns how many were shadowed. Never raises."""
        challenger = self.holder.current
        if challenger is None or self.rate <= 0:
            return 0
        chosen = [doc for doc in docs if doc.get("status") == "ok" and doc.get("features") and doc.get("shadow")
                  is None and sampled(str(doc.get("event_id", "")), self.rate)]
        if not chosen:
            return 0
        try:
            results = challenger.score_batch([doc["features"] for doc in chosen])
        except Exception as exc:  # noqa: BLE001 - the champion's events are stored whatever the challenger does
            self.errors += 1
            logger.warning("shadow scoring failed", extra={"error": str(exc)[:300],
                                                           "model_version": challenger.model_version})
            return 0
        for doc, result in zip(chosen, results, strict=True):
            doc["shadow"] = {"model_version": result.model_version, "probability": result.probability,
                             "decision": result.decision}
        self.scored += len(chosen)
        return len(chosen)


def follow_challenger(redis: Any, settings: Any) -> tuple[ShadowScorer, ChampionFollower]:
    """A shadow scorer on the challenger the registry publishes, followed through Redis (started)."""
    holder = ModelHolder(None)
    follower = ChampionFollower(holder, redis, Path(settings.bundle_cache_dir), key=CHALLENGER_KEY,
                                channel=CHALLENGER_CHANNEL)
    follower.sync()
    follower.start()
    return ShadowScorer(holder, settings.shadow_rate), follower
