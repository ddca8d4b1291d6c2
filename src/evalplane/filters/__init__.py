"""The filter language (DESIGN.md §4): parse text to a typed tree, then run it in memory or as SQL.

Quick reference (see parser.py for the grammar):

- Columns: name, span_kind, status_code, status_message, latency_ms, start_time, end_time,
  parent_id, context.trace_id, context.span_id, attributes.<path>, metadata.<path> (short for
  attributes.metadata.<path>), eval.<name>.label|score|explanation, and the same under
  trace_eval. / session_eval. for the span's trace and session results, annotation.<name>.label|score|text
  for human annotations of the span. An optional ``span.`` prefix
  is accepted. Column names are case-insensitive; attribute keys and evaluator names are not.
- A path segment that is not a plain word is double-quoted: eval."My Eval".label,
  attributes."user id". Inside quotes, "" is one double quote. All-digit segments index lists
  (and also match object keys spelled with digits).
- Literals: 'single-quoted strings' ('' is one quote), integers, decimals, exponents, negative
  numbers, TRUE, FALSE. start_time/end_time compare with ISO-8601 strings (UTC when no zone).
- Literals that can never match a fixed column (``latency_ms = 'x'``, ``name LIKE`` on a number
  column, mixed-kind IN lists) are rejected when parsing, with the position.

Meaning (values.py has the details; in-memory and SQL agree, tests/test_filters_sql.py checks):
SQL three-valued logic; attributes are read as the kind of the literal and otherwise count as
NULL, except that a numeric string ("42") compared with a number is that number; a quoted string
matches strings only; LIKE is case-sensitive; CONTAINS is a substring test on text and
whole-element membership on lists; JSON held inside a string attribute is not walked into.

One language, three targets: spans (this grammar's columns), records (``records.py``: dataset
examples and experiment runs, every column a record key) and ``query_filters`` of trace and
session tasks (``scopes.py``: filters A–E over spans, combined by an expression of their ids).

Use: ``check_filter(text, field=...)`` when saving; ``compile_predicate(parse(text))(span)`` for
fresh spans; ``to_sql(parse(text), SqlResolver(...))`` in a WHERE clause for backfills.
"""

from __future__ import annotations

from evalplane.filters.ast import Expr
from evalplane.filters.errors import FilterSyntaxError
from evalplane.filters.parser import MAX_DEPTH, MAX_LENGTH, parse
from evalplane.filters.predicate import SpanLike, compile_predicate
from evalplane.filters.sql import SqlResolver, to_sql

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Expr",
    "FilterSyntaxError",
    "SpanLike",
    "SqlResolver",
    "check_filter",
    "compile_predicate",
    "parse",
    "to_sql",
]


def check_filter(text: str | None, *, field: str = "query_filter") -> None:
    """Validate a filter a user is saving; an absent or blank filter means "every span"."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return
    try:
        parse(text)
    except FilterSyntaxError as exc:
        raise FilterSyntaxError(
            f"'{field}' is not a valid filter: {exc.detail}", position=exc.position, field=field
        ) from None
