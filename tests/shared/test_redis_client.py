"""The Redis client factory: a URL, or the Sentinel primary (no server needed: clients connect lazily)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from redis.sentinel import SentinelConnectionPool

from shared.redis_client import make_redis, parse_sentinels
from shared.settings import BaseServiceSettings


def test_parse_sentinels_reads_host_port_pairs() -> None:
    assert parse_sentinels("a:26379, b:26380,") == [("a", 26379), ("b", 26380)]
    assert parse_sentinels("[::1]:26379") == [("::1", 26379)]


@pytest.mark.parametrize("value", ["", "a", "a:", ":1", "a:b", " , "])
def test_parse_sentinels_refuses_what_is_not_host_port(value: str) -> None:
    with pytest.raises(ValueError, match="REDIS_SENTINELS"):
        parse_sentinels(value)


def test_without_sentinels_the_url_is_used() -> None:
    client = make_redis(BaseServiceSettings(redis_url="redis://10.0.0.5:6390/3"), socket_timeout=2)
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["socket_timeout"]) == ("10.0.0.5", 6390, 3, 2)


def test_with_sentinels_the_primary_is_asked_of_them_with_the_urls_db_and_password() -> None:
    settings = BaseServiceSettings(redis_url="redis://:s3cret@ignored:1/4", redis_sentinels="h1:26379,h2:26380",
                                   redis_master_name="scoring")
    client = make_redis(settings, socket_timeout=2)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "scoring"
    assert [(s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
            for s in pool.sentinel_manager.sentinels] == [("h1", 26379), ("h2", 26380)]
    assert (pool.connection_kwargs["db"], pool.connection_kwargs["password"]) == (4, "s3cret")
    assert "host" not in pool.connection_kwargs


def test_embedded_mode_has_no_redis() -> None:
    with pytest.raises(ValueError, match="REDIS_URL"):
        make_redis(BaseServiceSettings(redis_url=None))


def test_replica_count_is_read_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ES_NUMBER_OF_REPLICAS", "1")
    assert BaseServiceSettings().es_number_of_replicas == 1
    monkeypatch.setenv("ES_NUMBER_OF_REPLICAS", "-1")
    with pytest.raises(ValidationError, match="es_number_of_replicas"):
        BaseServiceSettings()


def test_the_store_takes_the_replica_count_and_every_listed_node() -> None:
    from shared.store.factory import make_store
    from shared.store.mapping import events_template

    store = make_store(BaseServiceSettings(elasticsearch_url="http://127.0.0.1:9201, http://127.0.0.1:9202",
                                           es_number_of_replicas=1, es_number_of_shards=4))
    assert store.replicas == 1  # type: ignore[attr-defined]
    template = events_template("p", store.replicas, store.shards)  # type: ignore[attr-defined]
    assert template["template"]["settings"]["number_of_shards"] == 4
    nodes = store.client.transport.node_pool.all()  # type: ignore[attr-defined]
    assert sorted(node.config.port for node in nodes) == [9201, 9202]
