"""The one module that knows which database it is talking to."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from sqlalchemy import ColumnElement, Integer, event, func, literal
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from evalplane.core.clock import as_utc, isoformat


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

    _skip_idle_transaction_ends(engine.sync_engine.dialect)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Bulk span writes: index pages stay cached between batches, and the WAL is copied back
        # every ~16 MB instead of every 4 MB, so hot pages are written once per checkpoint
        # (about a fifth less CPU per 1,000 spans, and far fewer checkpoint stalls).
        cursor.execute("PRAGMA cache_size=-16384")
        cursor.execute("PRAGMA wal_autocheckpoint=4000")
        cursor.close()


class SqliteStatistics:
    """Keeps SQLite's planner statistics current as the spans table grows.

    SQLite gathers no statistics unless told to, and without them it walks a project's time
    index even for a lookup by span or trace id, reading the whole window. ``ANALYZE`` with an
    analysis limit samples each index, so it takes milliseconds even at millions of spans; it
    runs whenever the table has doubled since the last run (PostgreSQL's autovacuum does the
    same job there).
    """

    def __init__(self) -> None:
        self.analyzed_at_rows = 0

    async def refresh(self, engine: AsyncEngine) -> bool:
        if not is_sqlite(engine):
            return False
        async with engine.connect() as connection:
            rows = (await connection.exec_driver_sql("SELECT max(id) FROM spans")).scalar() or 0
            if rows < 1000 or rows < 2 * self.analyzed_at_rows:
                return False
            await connection.exec_driver_sql("PRAGMA analysis_limit=1000")
            await connection.exec_driver_sql("ANALYZE")
            await connection.commit()
        self.analyzed_at_rows = rows
        return True


def _skip_idle_transaction_ends(sa_dialect: Any) -> None:
    """Commit and roll back only when SQLite holds a transaction open.

    Python's sqlite3 does nothing in either case when no transaction is open (reads run in
    autocommit), but through aiosqlite each call is still a thread hop; a read-only request
    paid two of them (the commit at the edge and the pool's reset on return).
    """
    commit, rollback = sa_dialect.do_commit, sa_dialect.do_rollback

    def in_transaction(dbapi_connection: Any) -> bool:
        driver = getattr(dbapi_connection, "driver_connection", None)
        try:
            return bool(driver.in_transaction)  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - closed or unknown: let the real call decide
            return True

    def do_commit(dbapi_connection: Any) -> None:
        if in_transaction(dbapi_connection):
            commit(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        if in_transaction(dbapi_connection):
            rollback(dbapi_connection)

    sa_dialect.do_commit, sa_dialect.do_rollback = do_commit, do_rollback


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
        # How a JSON column reads from a raw row: SQLite gives the stored text, asyncpg (with
        # SQLAlchemy's codecs on the connection) the decoded value.
        self.json: Callable[[Any], Any] = _json_text if self.sqlite else _as_is

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
        ``RawQuery.json``), exactly as stored; on PostgreSQL, JSONB values are embedded.
        An empty set is ``[]`` on SQLite and NULL on PostgreSQL.
        """
        if self.sqlite:
            # SQLite 3.40 has no ORDER BY inside aggregates; an ordered subquery is not flattened
            # into an aggregate query, so the array follows its order.
            inner = ", ".join(f"{v} AS c{i}" for i, v in enumerate(values))
            outer = ", ".join(f"c{i}" for i in range(len(values)))
            return (
                f"(SELECT json_group_array(json_array({outer})) FROM (SELECT {inner} {from_where} ORDER BY {order_by}))"
            )
        return f"(SELECT json_agg(json_build_array({', '.join(values)}) ORDER BY {order_by}) {from_where})"


# SQLite's DATETIME always has a result processor: the one that parses its stored text.
_sqlite_datetime = cast(
    Callable[[str], datetime], sqlite_dialect.DATETIME().result_processor(sqlite_dialect.dialect(), None)
)


def timestamp_value(value: Any) -> datetime | None:
    """A ``UtcDateTime`` from a raw row: SQLite keeps naive UTC text, PostgreSQL gives datetimes."""
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " " and value[19] == ".":  # SQLAlchemy's own format
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        return _sqlite_datetime(value).replace(tzinfo=UTC)
    return as_utc(value)


def timestamp_text(value: Any) -> str | None:
    """A ``UtcDateTime`` from a raw row, already as the API writes it (``core.clock.isoformat``).

    SQLite keeps SQLAlchemy's ``YYYY-MM-DD HH:MM:SS.ffffff`` (naive UTC) text: its wire form
    is a slice of it, which saves a parse and a format for every timestamp of a page.
    """
    if isinstance(value, str) and len(value) == 26 and value[10] == " " and value[19] == ".":
        return f"{value[:10]}T{value[11:23]}Z"
    if isinstance(value, datetime) and value.tzinfo is UTC and value.year >= 1000:
        return value.isoformat(timespec="milliseconds")[:-6] + "Z"
    return isoformat(timestamp_value(value))


def _json_text(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return json.loads(value)


def _as_is(value: Any) -> Any:
    return value


async def fetch_all(session: AsyncSession, query: RawQuery, sql: str) -> list[Sequence[Any]]:
    """Run ``sql`` with ``query``'s parameters on the session's connection in one driver call."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    if query.sqlite:
        return list(await driver.execute_fetchall(sql, query.params))  # type: ignore[union-attr]
    return list(await driver.fetch(sql, *query.params))  # type: ignore[union-attr]


class SqlDialect:
    """What differs between SQLite and PostgreSQL for the engine, asked of one object instead
    of comparing ``session.bind.dialect.name`` at each place it matters."""

    def __init__(self, name: str) -> None:
        self.name = name  # "sqlite" | "postgresql", as filter compilers expect it
        self.is_postgresql = name == "postgresql"
        # SQLite hands out row ids in commit order; PostgreSQL's sequences may commit out of order.
        self.ids_in_commit_order = name == "sqlite"

    def insert(self, table: Any) -> Any:
        """An INSERT supporting ``on_conflict_do_nothing/update``."""
        return insert_for(self.name, table)

    def skip_locked(self, stmt: Any) -> Any:
        """Rows other transactions hold are passed over (PostgreSQL); SQLite has one writer."""
        return stmt.with_for_update(skip_locked=True) if self.is_postgresql else stmt

    def lock_for_counters(self, stmt: Any) -> Any:
        """``FOR NO KEY UPDATE`` on PostgreSQL: the rows' counters are about to change."""
        return stmt.with_for_update(key_share=True) if self.is_postgresql else stmt


_SQL_DIALECTS = {name: SqlDialect(name) for name in ("sqlite", "postgresql")}


def dialect_of(session: AsyncSession) -> SqlDialect:
    """The strategy object for the database ``session`` talks to."""
    name = session.bind.dialect.name  # type: ignore[union-attr]  # the one place the engine reads it
    return _SQL_DIALECTS.get(name) or SqlDialect(name)
