"""The scoring gateway: FastAPI app, sync scoring, async jobs, health and metrics."""
