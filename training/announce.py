"""After a registry move: record it in the store and tell the serving processes.

The record goes to the store the services use (``scoring-model-events`` in
Elasticsearch, the ``model_events`` table of the SQLite file in embedded mode).
With ``REDIS_URL`` set, the new champion is also written under
:data:`shared.champion.CHAMPION_KEY` and published on its channel, so every
gateway process and worker loads it without a restart; without Redis the
embedded gateway reloads ``MODEL_DIR`` on ``SIGHUP``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.champion import CHALLENGER_CHANNEL, CHALLENGER_KEY, CHAMPION_CHANNEL, CHAMPION_KEY, ChampionNotice
from shared.settings import BaseServiceSettings
from shared.store.factory import make_store

if TYPE_CHECKING:
    from training.registry import Move


def record(move: Move, settings: BaseServiceSettings | None = None) -> dict[str, Any]:
    """Store the move as a model event; returns the stored document."""
    settings = settings or BaseServiceSettings()
    document = move.document()
    store = make_store(settings)
    try:
        store.setup()
        store.save_model_event(document)
    finally:
        store.close()
    return document


def publish(move: Move, settings: BaseServiceSettings | None = None) -> ChampionNotice | None:
    """Write and publish the new champion when ``REDIS_URL`` is set; None without Redis."""
    settings = settings or BaseServiceSettings()
    if not settings.redis_url or not move.bundle_uri:
        return None
    from shared.redis_client import make_redis

    notice = ChampionNotice(move.to_version, move.bundle_uri, move.action, move.timestamp)
    client = make_redis(settings, socket_timeout=5)
    try:
        client.set(CHAMPION_KEY, notice.to_json())
        client.publish(CHAMPION_CHANNEL, notice.to_json())
    finally:
        client.close()
    return notice


def publish_challenger(model_version: str | None, bundle_uri: str | None,
                       settings: BaseServiceSettings | None = None) -> bool:
    """Tell the indexers which challenger to shadow (None: none any more); False without ``REDIS_URL``."""
    settings = settings or BaseServiceSettings()
    if not settings.redis_url:
        return False
    from shared.redis_client import make_redis

    notice = ChampionNotice(model_version or "", bundle_uri or "", "challenger")
    client = make_redis(settings, socket_timeout=5)
    try:
        if model_version:
            client.set(CHALLENGER_KEY, notice.to_json())
        else:
            client.delete(CHALLENGER_KEY)
        client.publish(CHALLENGER_CHANNEL, notice.to_json())
    finally:
        client.close()
    return True
