"""Evaluators: LLM-judge templates and code checks, with immutable versions."""
