"""Embedded mode: the gateway, an in-process RQ worker and the SQLite indexer in one process.

A composition of ``gateway`` and ``worker`` that nothing imports: ``python -m
embedded`` (what ``make run`` starts) or the app factory ``embedded.app:create_app``.
"""
