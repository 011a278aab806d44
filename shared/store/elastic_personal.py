"""Erasure and access in Elasticsearch: one client's documents in every personal-data collection.

Core API only: a search on a point in time (``search_after``) for the
candidates of each collection of :data:`shared.store.personal.PERSONAL_DATA`,
matched on their ``_source`` (so unindexed text counts too), then a bulk delete
by ``_index`` and ``_id``; no delete-by-query, which the core server lacks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from shared.store import personal
from shared.store.elastic_errors import item_reason, translate_errors
from shared.store.exceptions import StoreError
from shared.store.personal import PersonalData, remember_links

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from shared.pseudonym import ClientMatcher

PAGE = 10_000
_KEEP_ALIVE = "2m"
_BULK_FILTER = "errors,items.*.status,items.*.error.type,items.*.error.reason,items.*.error.caused_by.reason"


class ElasticPersonalData:
    """The erasure and access methods of :class:`shared.store.elastic.ElasticsearchEventStore`."""

    client: Elasticsearch
    prefix: str

    page = PAGE  # hits per page of the erasure search (tests make it small)

    def _client_query(self, kind: PersonalData, matcher: ClientMatcher,
                      linked: dict[str, set[Any]]) -> dict[str, Any] | None:
        """The candidates of ``kind``: its reference fields equal to the pseudonym, its link fields equal to
        a value found so far, or documents with free text."""
        should: list[dict[str, Any]] = [{"term": {name: matcher.ref}} for name in kind.ref_fields]
        should += [{"terms": {name: sorted(linked[name])}} for name in kind.linked_by if linked.get(name)]
        if kind.text_fields:
            if not kind.scan_when:
                return {"match_all": {}}
            should += [{"terms": {name: list(values)}} for name, values in kind.scan_when.items()]
        return {"bool": {"should": should, "minimum_should_match": 1}} if should else None

    def _client_hits(self, kind: PersonalData, matcher: ClientMatcher,
                     linked: dict[str, set[Any]]) -> list[dict[str, Any]]:
        """Hits (``_index``, ``_id``, ``_source``) of ``kind`` about the client; [] when its index does not exist.

        Read on a point in time with ``search_after``; the whole ``_source`` is matched
        here (:meth:`PersonalData.matches`), so unindexed text counts too.
        """
        query = self._client_query(kind, matcher, linked)
        if query is None:
            return []
        index = f"{self.prefix}-{kind.index}"
        opened = self.client.open_point_in_time(index=index, keep_alive=_KEEP_ALIVE, ignore_unavailable=True)
        pit_id = opened["id"]
        found = []
        try:
            after: list[Any] | None = None
            while True:
                page = self.client.search(pit={"id": pit_id, "keep_alive": _KEEP_ALIVE}, query=query, size=self.page,
                                          sort=[{"_shard_doc": "asc"}], search_after=after,
                                          track_total_hits=False).body
                pit_id = page.get("pit_id", pit_id)
                hits = page.get("hits", {}).get("hits", [])
                found += [hit for hit in hits if kind.matches(matcher, hit["_source"], linked)]
                if len(hits) < self.page:
                    return found
                after = hits[-1]["sort"]
        finally:
            self.client.options(ignore_status=404).close_point_in_time(id=pit_id)

    def _client_data(self, matcher: ClientMatcher) -> list[tuple[PersonalData, list[dict[str, Any]]]]:
        linked: dict[str, set[Any]] = {}
        found = []
        for kind in personal.PERSONAL_DATA:
            hits = self._client_hits(kind, matcher, linked)
            remember_links(linked, (hit["_source"] for hit in hits))
            found.append((kind, hits))
        return found

    @translate_errors
    def find_client(self, matcher: ClientMatcher) -> dict[str, list[dict[str, Any]]]:
        """Every stored document about one client, per personal-data collection."""
        return {kind.name: [hit["_source"] for hit in hits] for kind, hits in self._client_data(matcher)}

    @translate_errors
    def forget_client(self, matcher: ClientMatcher, *, dry_run: bool = False) -> dict[str, int]:
        """Search every personal-data collection for the client, then bulk-delete the hits (no delete-by-query).

        Raises:
            StoreError: when a deletion fails for another reason than the document being gone already.
        """
        counts: dict[str, int] = {}
        touched: set[str] = set()
        for kind, hits in self._client_data(matcher):
            counts[kind.name] = len(hits)
            if dry_run or not hits:
                continue
            body = bytearray()
            for hit in hits:
                body += orjson.dumps({"delete": {"_index": hit["_index"], "_id": hit["_id"]}}) + b"\n"
                touched.add(hit["_index"])
            response = self.client.bulk(operations=bytes(body), filter_path=_BULK_FILTER)  # type: ignore[arg-type]
            if response.get("errors"):
                failed = [next(iter(item.values())) for item in response["items"]]
                failed = [item for item in failed if item.get("error")]
                if failed:
                    raise StoreError(f"{len(failed)} of {len(hits)} {kind.name} not deleted: "
                                     f"{item_reason(failed[0]['error'])}")
        if touched:
            self.client.indices.refresh(index=sorted(touched), ignore_unavailable=True)
        return counts
