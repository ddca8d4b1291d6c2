"""HTTP edge: app factory, auth, problem+json errors, wire models and routers per spec tag."""
