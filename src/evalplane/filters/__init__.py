"""The filter language (DESIGN.md §4): parse text to a typed tree, then run it in memory or as SQL.

Quick reference (see parser.py for the grammar):

- Columns: name, span_kind, status_code, status_message, latency_ms, start_time, end_time,
  parent_id, context.trace_id, context.span_id, attributes.<path>, metadata.<path> (short for
  attributes.metadata.<path>), eval.<name>.label|score|explanation. An optional ``span.`` prefix
  is accepted. Column names are case-insensitive; attribute keys and evaluator names are not.
- A path segment that is not a plain word is double-quoted: eval."My Eval".label,
  attributes."user id". Inside quotes, "" is one double quote. All-digit segments index lists
  (and also match object keys spelled with digits).
- Literals: 'single-quoted strings' ('' is one quote), integers, decimals, exponents, negative
  numbers, TRUE, FALSE. start_time/end_time compare with ISO-8601 strings (UTC when no zone).
"""

from __future__ import annotations

from evalplane.filters.errors import FilterSyntaxError
from evalplane.filters.parser import MAX_DEPTH, MAX_LENGTH, parse

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "FilterSyntaxError", "check_filter", "parse"]


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
