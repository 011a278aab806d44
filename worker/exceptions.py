"""Errors of the worker, turned into a failed job (with its reason) where they leave a job."""


class WorkerError(Exception):
    """Base class of the worker's errors."""


class PermanentJobError(WorkerError):
    """A job that cannot succeed on retry (bad input): it fails at once, retries left or not."""


class JobInputError(PermanentJobError):
    """The job's arguments are not valid applications (a gateway of another version, or tampering)."""


class ScorerUnavailableError(WorkerError):
    """The model bundle could not be loaded (transient: a deploy may be writing it); the job is retried."""


class ExplanationJobError(PermanentJobError):
    """The job asked for the decisions' reasons and this bundle cannot give them (no ``model.txt``)."""
