"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import JSON, BigInteger, DateTime, Integer
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeDecorator

from evalplane.core.clock import as_utc

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JSONValue = JSON().with_variant(postgresql.JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes in, timezone-aware UTC datetimes out, on both databases."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)

    @staticmethod
    def bulk_bind_processor(dialect: Any) -> Callable[[datetime], Any] | None:
        """For bulk writes of timezone-aware UTC datetimes: stores exactly what the bind
        processor would, without its per-value overhead (None: pass the value as it is)."""
        if dialect.name == "sqlite":
            return _sqlite_utc_text
        return None


def _sqlite_utc_text(value: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME text: "YYYY-MM-DD HH:MM:SS.ffffff", offset dropped.
    return value.isoformat(" ", "microseconds")[:26]


class JSONDocument(TypeDecorator[Any]):
    """Like ``JSONValue`` (JSONB / JSON text) but serialised with orjson in both directions.

    Used for large, hot documents such as span attributes, where the standard library's
    encoder would dominate bulk-insert time. SQL NULL stands for None.
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB())
        return dialect.type_descriptor(JSON())

    def bind_processor(self, dialect: Any) -> Any:
        def process(value: Any) -> str | None:
            return None if value is None else orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        def process(value: Any) -> Any:
            if value is None or not isinstance(value, (str, bytes)):
                return value
            return orjson.loads(value)

        return process
