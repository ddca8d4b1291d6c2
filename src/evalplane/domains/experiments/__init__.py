"""Experiments: task outputs (runs) recorded against a dataset's examples, or standalone in a space."""
