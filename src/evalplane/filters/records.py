"""The filter language over records: dataset examples and experiment runs.

Same grammar and meaning as over spans; only the columns differ. Every column names a key of
the flat record the API shows (``topic``, ``output``, ``eval.quality.score``,
``annotation.Correctness.label``, ``id``) and is read like an attribute: typed by the literal it
is compared with, NULL when absent, a numeric string read as a number when compared with one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from sqlalchemy.sql.elements import ColumnElement

from evalplane.filters import ast
from evalplane.filters.errors import FilterSyntaxError
from evalplane.filters.parser import parse
from evalplane.filters.predicate import compile_predicate
from evalplane.filters.sql import SqlResolver, to_sql

Record = Mapping[str, Any]


def parse_record_filter(text: str, *, field: str = "filter") -> ast.Expr:
    """The parsed filter over records; ``FilterSyntaxError`` (400, with the position) names ``field``."""
    if not isinstance(text, str) or not text.strip():
        raise FilterSyntaxError(
            f"The '{field}' must not be empty; omit it to match everything.", position=0, field=field
        )
    try:
        return _parse(text)
    except FilterSyntaxError as exc:
        raise FilterSyntaxError(
            f"'{field}' is not a valid filter: {exc.detail}", position=exc.position, field=field
        ) from None


@lru_cache(maxsize=256)
def _parse(text: str) -> ast.Expr:
    return parse(text, records=True)  # trees are immutable, so a cached one can be shared


def check_record_filter(text: str | None, *, field: str = "query_filter") -> None:
    """Validate a filter over records a user is saving; absent or blank means "every record"."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return
    parse_record_filter(text, field=field)


def record_search(text: str) -> Callable[[Record], bool]:
    """A search request's filter, which must not be blank."""
    return compile_predicate(parse_record_filter(text))


def record_predicate(*texts: str | None, field: str = "filter") -> Callable[[Record], bool]:
    """A function telling whether a record passes every filter (absent or blank ones are ignored)."""
    tests = [compile_predicate(parse_record_filter(t, field=field)) for t in texts if t is not None and t.strip()]
    if len(tests) == 1:
        return tests[0]
    return lambda record: all(test(record) for test in tests)


def record_filter_sql(expr: ast.Expr, dialect: str, document: ColumnElement[Any]) -> ColumnElement[bool]:
    """The filter as a WHERE clause over ``document``, a JSON object of the record's columns
    (JSON text on SQLite, JSONB on PostgreSQL)."""
    return to_sql(expr, SqlResolver(dialect=dialect, columns={}, attributes=document, evals=_no_evals))


def _no_evals(evaluator: str, field: str) -> ColumnElement[Any]:
    raise TypeError("records carry their evaluations as eval.<name>.<field> columns")


__all__ = ["check_record_filter", "parse_record_filter", "record_filter_sql", "record_predicate", "record_search"]
