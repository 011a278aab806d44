"""The one place a Redis client is made: a plain URL, or the current primary of a Sentinel setup.

With ``REDIS_SENTINELS`` (``host:port,host:port``) set, the client asks those
Sentinels for the address of the primary named ``REDIS_MASTER_NAME`` and asks
again whenever a connection to it fails or answers as a replica, so the gateway,
the indexer and the workers follow a failover without a restart. ``REDIS_URL``
is still required then (it is what turns server mode on); only its database
number, user name and password are used, its host and port are not.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from redis import Redis
from redis.sentinel import Sentinel

from shared.settings import BaseServiceSettings


def parse_sentinels(value: str) -> list[tuple[str, int]]:
    """``"h1:26379,h2:26380"`` as ``[("h1", 26379), ("h2", 26380)]``.

    Raises:
        ValueError: an entry is not ``host:port`` with a numeric port.
    """
    nodes = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        host, sep, port = entry.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"REDIS_SENTINELS entry {entry!r} is not host:port")
        nodes.append((host.strip("[]"), int(port)))
    if not nodes:
        raise ValueError("REDIS_SENTINELS names no host:port")
    return nodes


def _url_options(url: str) -> dict[str, Any]:
    """Database, user name and password of a ``redis://`` URL (what a Sentinel primary still needs)."""
    parts = urlsplit(url)
    options: dict[str, Any] = {}
    path = parts.path.lstrip("/")
    if path.isdigit():
        options["db"] = int(path)
    if parts.username:
        options["username"] = unquote(parts.username)
    if parts.password:
        options["password"] = unquote(parts.password)
    return options


def make_redis(settings: BaseServiceSettings, **options: Any) -> Redis:
    """A Redis client for the configured server.

    Args:
        settings: any service's settings (``REDIS_URL``, ``REDIS_SENTINELS``, ``REDIS_MASTER_NAME``).
        **options: redis-py client options (``socket_timeout``, ``health_check_interval``...).

    Returns:
        ``Redis.from_url(REDIS_URL)`` without Sentinels; with them, the Sentinel
        client of the primary ``REDIS_MASTER_NAME``.

    Raises:
        ValueError: ``REDIS_URL`` is unset (embedded mode has no Redis server).
    """
    if not settings.redis_url:
        raise ValueError("REDIS_URL is not set: embedded mode has no Redis server")
    if not settings.redis_sentinels:
        return Redis.from_url(settings.redis_url, **options)
    timeouts = {key: options[key] for key in ("socket_timeout", "socket_connect_timeout") if key in options}
    sentinel = Sentinel(parse_sentinels(settings.redis_sentinels), sentinel_kwargs=timeouts or {"socket_timeout": 2.0})
    return sentinel.master_for(settings.redis_master_name, redis_class=Redis,
                               **{**_url_options(settings.redis_url), **options})
