"""One router module per spec tag."""
