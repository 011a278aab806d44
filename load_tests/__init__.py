"""Load tests (Locust): the sync, async and batch scenarios, and their headless run script."""
