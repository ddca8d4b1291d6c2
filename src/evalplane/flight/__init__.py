"""Arrow Flight edge: the bulk data plane the ``arize`` SDK uses for datasets, experiments and spans.

``service`` runs the server beside the HTTP API in ``evalplane serve``; ``server`` authenticates
each call and dispatches it by kind to the handlers in ``routes`` (one module per family, each
exposing a :class:`~evalplane.flight.registry.Routes` named ``routes``).
"""
