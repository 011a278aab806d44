"""Where the real servers of the integration tests are, and whether they answer.

``ELASTICSEARCH_URL`` / ``REDIS_URL`` when set (then a server that does not
answer is an error, not a skip); otherwise the ports of ``make services``
(127.0.0.1:9200 and :6379), skipped when nothing answers there.
"""

from __future__ import annotations

import os
import urllib.request
from functools import cache
from typing import NoReturn

import pytest

DEFAULT_ES = "http://127.0.0.1:9200"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def _es_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/_cluster/health", timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping())
    except redis.RedisError:
        return False


@cache
def elasticsearch_url() -> str | None:
    """The test Elasticsearch's URL, None when none is configured nor answering on the default port."""
    url = os.environ.get("ELASTICSEARCH_URL")
    if url:
        return url
    return DEFAULT_ES if _es_answers(DEFAULT_ES) else None


@cache
def redis_url() -> str | None:
    """The test Redis's URL, None when none is configured nor answering on the default port."""
    url = os.environ.get("REDIS_URL")
    if url:
        return url
    return DEFAULT_REDIS if _redis_answers(DEFAULT_REDIS) else None


def _missing(message: str) -> NoReturn:
    """Skip on a developer's machine; fail in CI (CI=true), where `make test` started the servers."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message}: CI must not skip the integration tests", pytrace=False)
    pytest.skip(message)


def require_elasticsearch() -> str:
    """The Elasticsearch URL, or skip the test (run `make services` to get one); a failure in CI."""
    url = elasticsearch_url()
    if url is None:
        _missing("no Elasticsearch on 127.0.0.1:9200 and ELASTICSEARCH_URL unset (run `make services`)")
    return url


def require_redis() -> str:
    """The Redis URL, or skip the test (run `make services` to get one); a failure in CI."""
    url = redis_url()
    if url is None:
        _missing("no Redis on 127.0.0.1:6379 and REDIS_URL unset (run `make services`)")
    return url
