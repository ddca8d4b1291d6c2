"""Framework-free building blocks: domain errors, identifiers, cursors, time."""
