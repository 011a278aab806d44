"""What the routes delegate to: scoring now, enqueueing, and the events of both."""
