"""The one module that knows which database it is talking to."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from sqlalchemy import ColumnElement, Integer, event, func, literal
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from evalplane.core.clock import as_utc


def is_sqlite(engine: AsyncEngine | Engine) -> bool:
    return engine.dialect.name == "sqlite"


def insert_for(dialect_name: str, table: Any) -> Any:
    """An INSERT that supports ``on_conflict_do_nothing/update`` on either database."""
    return sqlite_insert(table) if dialect_name == "sqlite" else pg_insert(table)


def json_loads(text: str | bytes) -> Any:
    """Decode stored JSON with orjson (several times faster on list pages); fall back to the
    standard library for what orjson refuses (NaN, integers beyond 64 bits)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def engine_options(url: str, pool_size: int = 5) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}, "json_deserializer": json_loads}
    return {"pool_size": pool_size, "max_overflow": pool_size, "pool_pre_ping": True, "json_deserializer": json_loads}


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


class _position(FunctionElement[int]):
    """1-based position of a substring, 0 when absent: ``strpos`` / SQLite's ``instr``."""

    type = Integer()
    inherit_cache = True


@compiles(_position)
def _position_default(element: _position, compiler: Any, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


@compiles(_position, "sqlite")
def _position_sqlite(element: _position, compiler: Any, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


def contains_text_ci(column: Any, text: str) -> ColumnElement[bool]:
    """Case-insensitive literal substring match, for keyset lists ordered by id.

    Same rows as ``lower(col) LIKE '%text%'``, but PostgreSQL has no statistics for a
    function call and assumes it matches a third of the rows, so it walks the id index
    backwards and stops after one page. For LIKE it guesses a handful of rows and plans a
    full scan plus sort instead (40 ms rather than 1 ms on 100k tasks).
    """
    # Both sides folded by the database, so text that matches exactly always matches.
    return _position(func.lower(column), func.lower(literal(text))) > 0


# --- hand-written read statements for hot list paths ----------------------------------------
#
# A list page is one SQL statement executed on the driver connection in a single call: one
# thread hop on aiosqlite (SQLAlchemy's adapter makes four per statement: cursor, execute,
# fetchall, close) and no per-value result processing beyond what the caller asks for.


class RawQuery:
    """Collects positional parameters and renders the few dialect-specific SQL pieces."""

    def __init__(self, dialect_name: str) -> None:
        self.sqlite = dialect_name == "sqlite"
        self.params: list[Any] = []

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return "?" if self.sqlite else f"${len(self.params)}"

    def in_ints(self, column: str, values: list[int]) -> str:
        """``column IN (values)``; an empty list matches nothing."""
        if self.sqlite:
            return f"{column} IN ({', '.join(self.bind(v) for v in values) or 'NULL'})"
        return f"{column} = ANY({self.bind(values)}::bigint[])"

    def contains_text_ci(self, column: str, text: str) -> str:
        """Same rows as :func:`contains_text_ci` (and the same plans, see there)."""
        if "\x00" in text:
            return "1 = 0"  # no stored text holds a NUL, and PostgreSQL refuses one as a parameter
        function = "instr" if self.sqlite else "strpos"
        return f"{function}(lower({column}), lower({self.bind(text)})) > 0"

    def json_rows(self, values: list[str], order_by: str, from_where: str) -> str:
        """A scalar subquery: the rows of ``from_where`` as a JSON array of arrays, in ``order_by``.

        On SQLite, JSON text columns come back as strings inside the array (decode them with
        :func:`json_value`), exactly as stored; on PostgreSQL, JSONB values are embedded.
        An empty set is ``[]`` on SQLite and NULL on PostgreSQL.
        """
        if self.sqlite:
            # SQLite 3.40 has no ORDER BY inside aggregates; an ordered subquery is not flattened
            # into an aggregate query, so the array follows its order.
            inner = ", ".join(f"{v} AS c{i}" for i, v in enumerate(values))
            outer = ", ".join(f"c{i}" for i in range(len(values)))
            return f"(SELECT json_group_array(json_array({outer})) FROM (SELECT {inner} {from_where} ORDER BY {order_by}))"
        return f"(SELECT json_agg(json_build_array({', '.join(values)}) ORDER BY {order_by}) {from_where})"


_sqlite_datetime = sqlite_dialect.DATETIME().result_processor(sqlite_dialect.dialect(), None)


def timestamp_value(value: Any) -> datetime | None:
    """A ``UtcDateTime`` from a raw row: SQLite keeps naive UTC text, PostgreSQL gives datetimes."""
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " " and value[19] == ".":  # SQLAlchemy's own format
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        return _sqlite_datetime(value).replace(tzinfo=UTC)  # type: ignore[misc]
    return as_utc(value)


def json_value(value: Any) -> Any:
    """A JSON column's value from a raw row: stored text decoded (SQLite), decoded values as they are."""
    return json_loads(value) if isinstance(value, (str, bytes)) else value


async def fetch_all(session: AsyncSession, query: RawQuery, sql: str) -> list[Sequence[Any]]:
    """Run ``sql`` with ``query``'s parameters on the session's connection in one driver call."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    if query.sqlite:
        return list(await driver.execute_fetchall(sql, query.params))  # type: ignore[union-attr]
    return list(await driver.fetch(sql, *query.params))  # type: ignore[union-attr]
