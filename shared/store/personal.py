"""Where personal data is stored: the one list that erasure and access go through.

Each entry names a collection (an Elasticsearch index or pattern after the
prefix, and the SQLite table of the same data), the fields that hold a
client's pseudonym, and the free-text fields that could name a client. Both
store adapters read this list in :meth:`EventStore.find_client` and
:meth:`EventStore.forget_client`, so a collection added here (outcomes,
performance reports, model events, ...) is covered by erasure and access with
no other change. A collection that does not exist yet (no index, no table) is
skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.pseudonym import ClientMatcher

WHOLE_DOCUMENT = "*"


@dataclass(frozen=True)
class PersonalData:
    """One collection that may hold data about a client.

    Attributes:
        name: the collection's name in counts and exports (``events``, ``outcomes``, ...).
        index: the Elasticsearch index after ``{prefix}-`` (a pattern such as ``events-*`` is allowed).
        table: the SQLite table.
        ref_fields: fields holding the client's pseudonym (keyword fields in Elasticsearch, searched).
        text_fields: free-text fields read (not searched) for the pseudonym or, in text stored before
            pseudonymisation, the clear id; ``"*"`` reads the whole document.
        scan_when: which documents carry such text (``{"status": ("invalid", "error")}``): only those are
            read; empty: every document of the collection is read.
        linked_by: fields that tie a document to a document of an earlier collection of the list (an
            outcome's ``event_id``: the client's events are found first).
    """

    name: str
    index: str
    table: str
    ref_fields: tuple[str, ...] = ("client_ref",)
    text_fields: tuple[str, ...] = ()
    scan_when: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    linked_by: tuple[str, ...] = ()

    def matches(self, matcher: ClientMatcher, doc: Mapping[str, Any],
                linked: Mapping[str, set[Any]] | None = None) -> bool:
        """True when ``doc`` of this collection is about the matcher's client.

        Args:
            matcher: the client.
            doc: a stored document of this collection.
            linked: values of the ``linked_by`` fields found in the client's documents so far.
        """
        if linked and any(doc.get(name) in linked.get(name, ()) for name in self.linked_by):
            return True
        return matcher.matches(doc, self.ref_fields, self.text_fields)


def remember_links(linked: dict[str, set[Any]], docs: Iterable[Mapping[str, Any]]) -> None:
    """Add the values of every ``linked_by`` field of the list found in ``docs`` to ``linked``."""
    for doc in docs:
        for name in LINK_FIELDS:
            value = doc.get(name)
            if isinstance(value, str) and value:
                linked.setdefault(name, set()).add(value)


PERSONAL_DATA: tuple[PersonalData, ...] = (
    # Scored applications and failed attempts: the pseudonym, and refused inputs and error messages.
    PersonalData("events", "events-*", "events", text_fields=("raw_input", "error_message"),
                 scan_when={"status": ("invalid", "error")}),
    # Realised outcomes (defaults) reported for scored applications: by the pseudonym, or by the event they
    # report on (an outcome sent with an event_id may carry no client_ref).
    PersonalData("outcomes", "outcomes", "outcomes", linked_by=("event_id",)),
    # Summaries hold no client-level data by design; they are small, so they are read whole to make sure.
    PersonalData("drift_reports", "drift-reports", "drift_reports", ref_fields=(), text_fields=(WHOLE_DOCUMENT,)),
    PersonalData("performance_reports", "performance-reports", "performance_reports", ref_fields=(),
                 text_fields=(WHOLE_DOCUMENT,)),
    PersonalData("alerts", "alerts", "alerts", ref_fields=(), text_fields=(WHOLE_DOCUMENT,)),
    # Registry moves (promotions, rollbacks): no client data by design, read whole to make sure.
    PersonalData("model_events", "model-events", "model_events", ref_fields=(), text_fields=(WHOLE_DOCUMENT,)),
)

LINK_FIELDS = tuple(sorted({name for kind in PERSONAL_DATA for name in kind.linked_by}))

# The erasure audit: when and how many, never who. Not personal data, never erased by a request.
AUDIT_INDEX = "audit"
AUDIT_TABLE = "audit"
