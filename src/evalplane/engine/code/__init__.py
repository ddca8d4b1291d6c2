"""Code evaluators: the managed ones run in-process; custom Python runs in a sandbox."""
