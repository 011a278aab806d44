"""One module per page: ``layout()`` builds it, ``register(app, data)`` wires its callbacks."""
