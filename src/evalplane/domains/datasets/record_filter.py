"""A small in-memory filter over flat records (dataset examples, experiment runs).

It covers the part of the SQL-like filter language that search requests use on these
records: comparisons (=, !=, <, <=, >, >=), IN / NOT IN, LIKE / NOT LIKE, CONTAINS,
IS [NOT] NULL, AND / OR / NOT and parentheses, over single-quoted strings and numbers.
A column is a record key looked up verbatim (``topic``, ``eval.quality.score``,
``annotation.Correctness.label``).

TODO(filters): once ``evalplane.filters`` lands (parse -> AST -> SQL / in-memory
predicate), validate with ``check_filter`` and use its predicate here, keeping
:func:`compile_filter`'s signature so callers do not change.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from evalplane.core.errors import InvalidInput
from evalplane.filters.like import LikeMatcher, like_matcher

Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^']|'')*')
      | (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_][\w.\-]*(?:\.[\w\-]+)*|"(?:[^"]|"")+")
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"AND", "OR", "NOT", "IN", "LIKE", "CONTAINS", "IS", "NULL", "TRUE", "FALSE"}
MAX_DEPTH = 32  # nested parentheses and NOTs; the parser recurses once per level
_MAX_NUMBER_CHARS = 40  # int() refuses over 4300 digits, and no stored value needs 40


class _Tokens:
    def __init__(self, text: str) -> None:
        self.items: list[tuple[str, Any, int]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if not match or match.end() == pos:
                raise _error(f"unexpected character at position {pos + 1}", pos)
            kind = match.lastgroup or ""
            raw = match.group(kind)
            start = match.start(kind)
            if kind == "str":
                self.items.append(("lit", raw[1:-1].replace("''", "'"), start))
            elif kind == "num":
                if len(raw) > _MAX_NUMBER_CHARS:
                    raise _error(f"the number at position {start + 1} is too long", start)
                self.items.append(("lit", float(raw) if any(c in raw for c in ".eE") else int(raw), start))
            elif kind == "word" and raw.startswith('"'):
                self.items.append(("col", raw[1:-1].replace('""', '"'), start))
            elif kind == "word" and raw.upper() in _KEYWORDS:
                upper = raw.upper()
                if upper in ("TRUE", "FALSE"):
                    self.items.append(("lit", upper == "TRUE", start))
                else:
                    self.items.append(("kw", upper, start))
            elif kind == "word":
                self.items.append(("col", raw, start))
            else:
                self.items.append((kind, raw, start))
            pos = match.end()
        self.i = 0
        self.length = len(text)
        self.depth = 0

    def enter(self) -> None:
        """One level deeper (a parenthesis or a NOT); too deep is a 400, not a RecursionError."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            pos = self.items[self.i][2] if self.i < len(self.items) else self.length
            raise _error(f"nesting deeper than {MAX_DEPTH} levels at position {pos + 1}", pos)

    def peek(self, kind: str | None = None, value: Any = None) -> bool:
        if self.i >= len(self.items):
            return False
        k, v, _ = self.items[self.i]
        return (kind is None or k == kind) and (value is None or v == value)

    def take(self, kind: str, value: Any = None, what: str = "") -> Any:
        if not self.peek(kind, value):
            pos = self.items[self.i][2] if self.i < len(self.items) else self.length
            raise _error(f"expected {what or value or kind} at position {pos + 1}", pos)
        self.i += 1
        return self.items[self.i - 1][1]


def _error(message: str, _pos: int) -> InvalidInput:
    return InvalidInput(f"The 'filter' could not be parsed: {message}.", field="filter")


def compile_filter(text: str) -> Predicate:
    """Parse ``text`` into a predicate over a record; InvalidInput (400) if it does not parse."""
    if not text.strip():
        raise InvalidInput("The 'filter' must not be empty; omit it to match everything.", field="filter")
    if len(text) > 10_000:
        raise InvalidInput("The 'filter' is too long (at most 10000 characters).", field="filter")
    tokens = _Tokens(text)
    predicate = _or(tokens)
    if tokens.i != len(tokens.items):
        raise _error(f"unexpected text at position {tokens.items[tokens.i][2] + 1}", 0)
    return predicate


def check_record_filter(text: str | None, *, field: str = "query_filter") -> None:
    """Validate a saved filter over records (dataset tasks filter experiment runs); an absent
    or blank filter means "every record"."""
    if text is None or not text.strip():
        return
    try:
        compile_filter(text)
    except InvalidInput as exc:
        raise InvalidInput(f"'{field}' is not a valid filter over experiment runs: {exc.detail}", field=field) from None


def _or(t: _Tokens) -> Predicate:
    parts = [_and(t)]
    while t.peek("kw", "OR"):
        t.take("kw", "OR")
        parts.append(_and(t))
    return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))


def _and(t: _Tokens) -> Predicate:
    parts = [_not(t)]
    while t.peek("kw", "AND"):
        t.take("kw", "AND")
        parts.append(_not(t))
    return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))


def _not(t: _Tokens) -> Predicate:
    if t.peek("kw", "NOT"):
        t.enter()
        t.take("kw", "NOT")
        inner = _not(t)
        t.depth -= 1
        return lambda r: not inner(r)
    if t.peek("punct", "("):
        t.enter()
        t.take("punct", "(")
        inner = _or(t)
        t.take("punct", ")", "')'")
        t.depth -= 1
        return inner
    return _comparison(t)


def _comparison(t: _Tokens) -> Predicate:
    column = t.take("col", what="a column name")
    if t.peek("op"):
        op = t.take("op")
        value = t.take("lit", what="a quoted string or a number")
        return _compare(column, "!=" if op == "<>" else op, value)
    negate = False
    if t.peek("kw", "IS"):
        t.take("kw", "IS")
        if t.peek("kw", "NOT"):
            t.take("kw", "NOT")
            negate = True
        t.take("kw", "NULL")
        return lambda r: (r.get(column) is None) != negate
    if t.peek("kw", "NOT"):
        t.take("kw", "NOT")
        negate = True
    if t.peek("kw", "IN"):
        t.take("kw", "IN")
        t.take("punct", "(", "'('")
        values = [t.take("lit", what="a literal")]
        while t.peek("punct", ","):
            t.take("punct", ",")
            values.append(t.take("lit", what="a literal"))
        t.take("punct", ")", "')'")
        return lambda r: r.get(column) is not None and any(_equal(r.get(column), v) for v in values) != negate
    if t.peek("kw", "LIKE"):
        t.take("kw", "LIKE")
        matches = _like(str(t.take("lit", what="a quoted pattern")))
        return lambda r: r.get(column) is not None and matches(_text(r.get(column))) != negate
    if t.peek("kw", "CONTAINS") and not negate:
        t.take("kw", "CONTAINS")
        needle = str(t.take("lit", what="a quoted string"))
        return lambda r: r.get(column) is not None and needle in _text(r.get(column))
    raise _error(f"expected an operator after '{column}'", 0)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    import orjson

    return orjson.dumps(value).decode()


def _like(pattern: str) -> LikeMatcher:
    # '%' and '_' are the only special characters here (no escapes); matched without backtracking
    return like_matcher(("any", "") if ch == "%" else ("one", "") if ch == "_" else ("char", ch) for ch in pattern)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _equal(left: Any, right: Any) -> bool:
    if isinstance(right, bool) or isinstance(left, bool):
        return left == right or str(left).lower() == str(right).lower()
    if isinstance(right, int | float):
        number = _number(left)
        return number is not None and number == float(right)
    return _text(left) == right


def _compare(column: str, op: str, value: Any) -> Predicate:
    if op == "=":
        return lambda r: r.get(column) is not None and _equal(r.get(column), value)
    if op == "!=":
        return lambda r: r.get(column) is not None and not _equal(r.get(column), value)

    def ordered(record: Record) -> bool:
        left = record.get(column)
        if left is None:
            return False
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = _number(left)
            if number is None:
                return False
            a, b = number, float(value)
        else:
            a, b = _text(left), str(value)  # type: ignore[assignment]
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]

    return ordered
