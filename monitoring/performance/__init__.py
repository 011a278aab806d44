"""Realised and estimated (CBPE) performance and fairness over windows of scored applications."""
