"""Decoding of traces sent over OTLP/HTTP into span records ready to store."""
