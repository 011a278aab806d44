"""Errors of the monitoring package, converted to exit codes or log lines at its edges."""


class MonitoringError(Exception):
    """Base class of the monitoring errors."""


class ReferenceDataError(MonitoringError):
    """The bundle's reference sample is missing, empty or unreadable."""


class NotFittedError(MonitoringError):
    """A calculator was asked to calculate before ``fit``."""


class WindowError(MonitoringError):
    """A drift or anomaly window was asked for with impossible bounds."""


class QueueProbeError(MonitoringError):
    """The job queue's backlog could not be read: its source (Redis, the gateway) did not answer."""


class DecisionNotFoundError(MonitoringError):
    """No scoring event has the id asked for, and no job that job id."""
