"""The transport-free scoring core: validate, score, build the answer and the event.

HTTP routes and queue jobs are thin adapters over :class:`shared.serving.core.ScoringCore`.
"""
