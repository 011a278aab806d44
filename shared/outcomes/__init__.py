"""Outcomes of scored applications: validation, matching to their events, storage (transport-free)."""

from shared.outcomes.exceptions import EnvelopeError
from shared.outcomes.service import OutcomeAnswer, OutcomeService, resolve_pending

__all__ = ["EnvelopeError", "OutcomeAnswer", "OutcomeService", "resolve_pending"]
