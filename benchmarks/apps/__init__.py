"""Comparison services for the end-to-end benchmark (the floor and the usual peer setup)."""
