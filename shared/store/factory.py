"""Pick the store from the settings: Elasticsearch when ``ELASTICSEARCH_URL`` is set, else SQLite."""

from __future__ import annotations

from shared.pseudonym import Pseudonymiser
from shared.settings import BaseServiceSettings
from shared.store.base import EventStore


def make_store(settings: BaseServiceSettings) -> EventStore:
    """The event store the settings ask for (not set up: call ``setup()`` at start-up).

    The Elasticsearch adapter is imported only when used, so a process in
    embedded mode (or an image without the ``elasticsearch`` package) never
    imports the client.

    Args:
        settings: any service's settings (``elasticsearch_url`` and its credentials and CA,
            ``es_index_prefix``, ``es_number_of_replicas``, ``sqlite_path``).

    Returns:
        An :class:`ElasticsearchEventStore` or a :class:`SQLiteEventStore`.
    """
    store: EventStore
    if settings.elasticsearch_url:
        from shared.store.elastic import ElasticsearchEventStore, make_client

        client = make_client(settings.elasticsearch_url, **settings.elasticsearch_options())
        store = ElasticsearchEventStore(client, settings.es_index_prefix, replicas=settings.es_number_of_replicas,
                                        shards=settings.es_number_of_shards)
    else:
        from shared.store.sqlite import SQLiteEventStore

        store = SQLiteEventStore(settings.sqlite_path)
    store.pseudonymiser = Pseudonymiser(settings.pseudonymisation_key)
    return store


def describe(store: EventStore) -> str:
    """A short, secret-free name of a store for logs ("elasticsearch prefix=scoring", "sqlite var/x.sqlite3")."""
    prefix = getattr(store, "prefix", None)
    if prefix is not None:
        return f"elasticsearch prefix={prefix}"
    return f"sqlite {getattr(store, 'path', '?')}"
