"""The scoring contract shared by every service: schema, encoding, scorer, event, settings."""
