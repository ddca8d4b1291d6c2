"""The one module that knows which database it is talking to."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine


def is_sqlite(engine: AsyncEngine | Engine) -> bool:
    return engine.dialect.name == "sqlite"


def insert_for(dialect_name: str, table: Any) -> Any:
    """An INSERT that supports ``on_conflict_do_nothing/update`` on either database."""
    return sqlite_insert(table) if dialect_name == "sqlite" else pg_insert(table)


def engine_options(url: str, pool_size: int = 5) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {"pool_size": pool_size, "max_overflow": pool_size, "pool_pre_ping": True}


def configure(engine: AsyncEngine) -> None:
    """Per-connection settings: WAL, foreign keys and a busy timeout for SQLite."""
    if not is_sqlite(engine):
        return

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def like_escape(text: str) -> str:
    """Escape LIKE wildcards so user text matches literally (used with ESCAPE '\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
