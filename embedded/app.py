"""The embedded-mode application: the gateway's app with the worker and indexer threads beside it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from embedded.runtime import EmbeddedRuntime
from gateway.app import create_app as create_gateway_app
from gateway.settings import GatewaySettings


def create_app(settings: GatewaySettings | None = None, publisher_factory: Any = None) -> FastAPI:
    """The gateway app whose lifespan also starts the in-process worker and indexer (without ``REDIS_URL``).

    Args:
        settings: gateway settings (read from the environment when omitted).
        publisher_factory: ``(redis, settings) -> publisher``, as for :func:`gateway.app.create_app`.
    """
    return create_gateway_app(settings, publisher_factory, companion_factory=EmbeddedRuntime)
