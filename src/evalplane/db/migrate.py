"""Schema upgrades through the one alembic tree, callable from the CLI and at server start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(connection: Connection, url: str) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the database to the newest schema; a no-op when it is already there."""
    url = engine.url.render_as_string(hide_password=False)
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Several processes may start at once: let one migrate while the others wait.
            await connection.exec_driver_sql("SELECT pg_advisory_xact_lock(727001)")
        await connection.run_sync(_upgrade, url)
