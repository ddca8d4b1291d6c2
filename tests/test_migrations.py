"""The one migration tree builds exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from evalplane.db.models import Base


async def test_migrations_match_the_models(database) -> None:
    def diff(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with database.engine.connect() as connection:
        changes = await connection.run_sync(diff)
    assert changes == [], f"models and migrations differ; add a migration: {changes}"


async def test_upgrading_twice_is_a_no_op(database) -> None:
    from evalplane.db import migrate

    await migrate.upgrade(database.engine)
    await migrate.upgrade(database.engine)
