"""Monitoring: data drift against the training reference, operational anomalies, the Dash dashboard.

Everything here reads the store through :class:`shared.store.base.EventStore`;
nothing imports the gateway or the worker.
"""
