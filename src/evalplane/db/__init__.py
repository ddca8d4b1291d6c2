"""Storage: portable column types, engine and unit of work, ORM models, migrations."""
