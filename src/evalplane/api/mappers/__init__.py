"""Domain rows to wire dictionaries, per dialect. Wire shapes never leave ``api``."""
