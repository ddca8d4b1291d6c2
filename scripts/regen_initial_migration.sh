#!/usr/bin/env bash
# While the project has a single, unreleased migration, rebuild it from the models.
# Once a release ships, add new revisions with scripts/new_migration.py instead.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9>/tmp/evalplane-regen.lock
flock 9
rm -f src/evalplane/db/migrations/versions/0001_initial_schema.py
.venv/bin/python scripts/new_migration.py "initial schema" 0001
