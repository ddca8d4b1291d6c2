"""Organizations: top-level containers of spaces."""
