"""RQ side of the platform: scoring jobs, the worker pool, and the event indexer."""
