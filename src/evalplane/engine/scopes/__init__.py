"""Targets that group spans: traces and sessions (DESIGN.md §3b)."""
