"""Flight handlers, one module per family; each exposes ``routes`` (see ``flight.registry``)."""
