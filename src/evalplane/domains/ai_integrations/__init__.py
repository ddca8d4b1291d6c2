"""AI integrations: LLM provider credentials and their scopes."""
