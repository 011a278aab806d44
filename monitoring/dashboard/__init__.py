"""The Dash dashboard: operations, scores, drift and alerts pages, all read through the store interface."""
