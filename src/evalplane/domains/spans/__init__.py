"""Spans: storing what ingestion decoded, and reading spans and traces back."""
