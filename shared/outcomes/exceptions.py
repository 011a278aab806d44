"""Errors of the outcome ingestion, converted where they leave it (422 for the envelope)."""

from shared.exceptions import SharedError


class EnvelopeError(SharedError):
    """The request is not an object with an ``outcomes`` list of 1 to 10,000 items.

    Attributes:
        field: the part of the body at fault (``body`` or ``outcomes``).
        rule: what it breaks.
    """

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule
