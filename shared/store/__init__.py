"""The store of events, drift reports and alerts: one interface, two adapters."""

from shared.store.base import EventStore, IndexResult, OpsBucket, TimeWindow

__all__ = ["EventStore", "IndexResult", "OpsBucket", "TimeWindow"]
