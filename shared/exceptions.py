"""Errors of the scoring contract, converted where they leave the package."""


class SharedError(Exception):
    """Base class of the contract's errors."""


class EncodingError(SharedError):
    """The encoding state does not match this code (wrong version, other features)."""


class BundleError(SharedError):
    """A model bundle is missing, incomplete or inconsistent."""


class InputRefusedError(SharedError):
    """An input the scoring core refused (the client's fault); its "invalid" event is already emitted.

    Attributes:
        reason: ``"malformed"`` (not JSON), ``"invalid"`` (breaks the schema) or ``"too_large"``
            (more applications than the batch limit).
        message: a client-safe sentence.
        details: ``errors`` (one per bad field), ``items`` (per batch index) or ``limit``.
    """

    def __init__(self, reason: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.details = details


class ScoringFailedError(SharedError):
    """The scorer failed on valid input (our fault); the "error" events are already emitted."""


class ExplanationUnavailableError(SharedError):
    """An explanation was asked for, but the bundle's explainer is missing or failed to load."""
