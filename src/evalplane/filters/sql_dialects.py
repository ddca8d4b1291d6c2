"""Everything in the filter compiler that differs between SQLite and PostgreSQL.

Each class reads a value at a path inside a JSON document column (JSON text on SQLite, JSONB on
PostgreSQL) as one kind — text, number, boolean — yielding SQL NULL when the value is absent
or of another kind, and answers the few operators whose spelling differs.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import orjson
from sqlalchemy import (
    Float,
    Text,
    and_,
    case,
    column,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from evalplane.filters.values import NUMERIC_TEXT, NUMERIC_TEXT_MAX, LikePart, list_index

Kind = str  # "text" | "number" | "boolean"


class JsonDialect(Protocol):
    def read(self, doc: ColumnElement[Any], path: tuple[str, ...], kind: Kind) -> ColumnElement[Any]: ...
    def is_null(self, doc: ColumnElement[Any], path: tuple[str, ...]) -> ColumnElement[bool]: ...
    def contains(
        self, doc: ColumnElement[Any], path: tuple[str, ...], value: str | float | bool
    ) -> ColumnElement[bool]: ...
    def like(self, text: ColumnElement[Any], parts: list[LikePart]) -> ColumnElement[bool]: ...
    def substring(self, text: ColumnElement[Any], needle: str) -> ColumnElement[bool]: ...
    def ordered(self, text: ColumnElement[Any]) -> ColumnElement[Any]: ...


def for_dialect(name: str) -> JsonDialect:
    if name == "sqlite":
        return SqliteJson()
    if name == "postgresql":
        return PostgresJson()
    raise ValueError(f"filters cannot compile to SQL for the {name!r} dialect")


def _stored_key(segment: str) -> str:
    """A key spelled as JSONDocument (orjson) writes it: SQLite compares path labels with the
    stored text byte for byte, escapes included, so "é" must stay "é" and not become "\\u00e9"."""
    return orjson.dumps(segment).decode()[1:-1]


class SqliteJson:
    """SQLite's JSON1 functions over JSON text."""

    _TYPES: ClassVar[dict[str, tuple[str, ...]]] = {
        "text": ("text",),
        "number": ("integer", "real"),
        "boolean": ("true", "false"),
    }

    def path(self, doc: ColumnElement[Any], path: tuple[str, ...]) -> ColumnElement[str]:
        """A JSON path expression; digit segments choose ``[n]`` or ``."n"`` by what they meet.

        Each choice tests the path so far. Writing that prefix into both the test and the
        result would double the SQL with every digit segment (a 50-character filter compiled
        to megabytes), and nesting subqueries overflows SQLite's parser after a few levels; so
        from the second digit segment on, each chosen prefix is named once as the single row
        of ``json_each(json_array(prefix))`` in one flat join, and the next step reads it back.
        """
        expr: ColumnElement[str] | None = None
        steps: list[Any] = []
        pending = "$"
        for segment in path:
            key = '."' + _stored_key(segment) + '"'
            index = list_index(segment)
            if index is None:
                pending += key
                continue
            so_far = literal(pending, Text) if expr is None else expr.concat(pending)
            chosen = so_far.concat(case((func.json_type(doc, so_far) == "array", f"[{index}]"), else_=key))
            if expr is not None:
                step = func.json_each(func.json_array(chosen)).table_valued("value")
                steps.append(step)
                chosen = step.c.value
            expr, pending = chosen, ""
        if expr is None:
            return literal(pending, Text)
        if pending:
            expr = expr.concat(pending)
        if not steps:
            return expr
        joined = steps[0]
        for step in steps[1:]:
            joined = joined.join(step, true())
        return select(expr).select_from(joined).scalar_subquery()

    # Each operator builds its path once and names it twice: building dominates the compile time
    # of long filters.

    def read(self, doc: ColumnElement[Any], path: tuple[str, ...], kind: Kind) -> ColumnElement[Any]:
        at = self.path(doc, path)
        value, json_type = func.json_extract(doc, at), func.json_type(doc, at)
        if kind != "number":
            return case((json_type.in_(self._TYPES[kind]), value))
        return case(
            (json_type.in_(self._TYPES[kind]), value.cast(Float)),
            (and_(json_type == "text", self.numeric_text(value)), value.cast(Float)),
        )

    @staticmethod
    def numeric_text(text: ColumnElement[Any]) -> ColumnElement[bool]:
        """values.NUMERIC_TEXT spelled with GLOB, SQLite having no regular expressions."""

        def glob(pattern: str) -> ColumnElement[bool]:
            return text.op("GLOB", is_comparison=True)(literal(pattern, Text))

        return and_(
            func.length(text) <= NUMERIC_TEXT_MAX,
            ~glob("*[^0-9.-]*"),  # digits, '.' and '-' only
            ~glob("?*-*"),  # '-' only first
            ~glob("*.*.*"),  # one '.' at most
            or_(glob("[0-9]*"), glob("-[0-9]*")),  # a digit first, after the sign
            glob("*[0-9]"),  # and a digit last
        )

    def is_null(self, doc: ColumnElement[Any], path: tuple[str, ...]) -> ColumnElement[bool]:
        kind = func.json_type(doc, self.path(doc, path))
        return or_(kind.is_(None), kind == "null")

    def contains(
        self, doc: ColumnElement[Any], path: tuple[str, ...], value: str | float | bool
    ) -> ColumnElement[bool]:
        at = self.path(doc, path)
        elements = func.json_each(doc, at).table_valued("type", "value")
        if isinstance(value, bool):
            match = elements.c.type == ("true" if value else "false")
        elif isinstance(value, float):
            numeric = or_(
                elements.c.type.in_(("integer", "real")),
                and_(elements.c.type == "text", self.numeric_text(elements.c.value)),
            )
            match = and_(numeric, elements.c.value.cast(Float) == value)
        else:
            match = and_(elements.c.type == "text", elements.c.value == value)
        member = exists(select(literal(1)).select_from(elements).where(match))
        kind = func.json_type(doc, at)
        whens: list[tuple[ColumnElement[bool], ColumnElement[bool]]] = [(kind == "array", member)]
        if isinstance(value, str):
            whens.append((kind == "text", self.substring(func.json_extract(doc, at), value)))
        return case(*whens)

    def like(self, text: ColumnElement[Any], parts: list[LikePart]) -> ColumnElement[bool]:
        # SQLite's LIKE ignores ASCII case; GLOB is case-sensitive, so translate to it.
        glob = "".join("*" if k == "any" else "?" if k == "one" else f"[{c}]" if c in "*?[" else c for k, c in parts)
        return text.op("GLOB", is_comparison=True)(literal(glob, Text))

    def substring(self, text: ColumnElement[Any], needle: str) -> ColumnElement[bool]:
        return func.instr(text, literal(needle, Text)) > 0

    def ordered(self, text: ColumnElement[Any]) -> ColumnElement[Any]:
        return text  # BINARY collation already orders by code point


class PostgresJson:
    """PostgreSQL's JSONB operators; ``#>`` treats a digit segment as an index or a key as needed."""

    _TYPES: ClassVar[dict[str, str]] = {"text": "string", "number": "number", "boolean": "boolean"}
    _CASTS: ClassVar[dict[str, Any]] = {
        "text": Text(),
        "number": postgresql.DOUBLE_PRECISION(),
        "boolean": postgresql.BOOLEAN(),
    }

    def _path(self, path: tuple[str, ...]) -> ColumnElement[Any]:
        return literal(list(path), postgresql.ARRAY(Text))

    def _at(self, doc: ColumnElement[Any], path: tuple[str, ...]) -> ColumnElement[Any]:
        return doc.op("#>", return_type=postgresql.JSONB)(self._path(path))

    def read(self, doc: ColumnElement[Any], path: tuple[str, ...], kind: Kind) -> ColumnElement[Any]:
        text = doc.op("#>>", return_type=Text)(self._path(path))
        value = text if kind == "text" else text.cast(self._CASTS[kind])
        json_type = func.jsonb_typeof(self._at(doc, path))
        if kind != "number":
            return case((json_type == self._TYPES[kind], value))
        return case((json_type == "number", value), (and_(json_type == "string", self.numeric_text(text)), value))

    @staticmethod
    def numeric_text(text: ColumnElement[Any]) -> ColumnElement[bool]:
        """values.NUMERIC_TEXT as a PostgreSQL regular expression (anchored: ~ searches)."""
        pattern = literal("^" + NUMERIC_TEXT.pattern + "$", Text)
        return and_(func.length(text) <= NUMERIC_TEXT_MAX, text.op("~", is_comparison=True)(pattern))

    def is_null(self, doc: ColumnElement[Any], path: tuple[str, ...]) -> ColumnElement[bool]:
        at = self._at(doc, path)
        return or_(at.is_(None), func.jsonb_typeof(at) == "null")

    def contains(
        self, doc: ColumnElement[Any], path: tuple[str, ...], value: str | float | bool
    ) -> ColumnElement[bool]:
        at = self._at(doc, path)
        element = func.jsonb_array_elements(at).table_valued(column("value", postgresql.JSONB)).c.value
        element_text = element.op("#>>", return_type=Text)(literal_column("'{}'"))
        if isinstance(value, bool):
            match = and_(func.jsonb_typeof(element) == "boolean", element_text.cast(postgresql.BOOLEAN) == value)
        elif isinstance(value, float):
            numeric = or_(
                func.jsonb_typeof(element) == "number",
                and_(func.jsonb_typeof(element) == "string", self.numeric_text(element_text)),
            )
            match = case((numeric, element_text.cast(Float))) == value  # CASE: never cast a non-number
        else:
            match = and_(func.jsonb_typeof(element) == "string", element_text == value)
        member = exists(select(literal(1)).select_from(element.table).where(match))
        kind = func.jsonb_typeof(at)
        whens: list[tuple[ColumnElement[bool], ColumnElement[bool]]] = [(kind == "array", member)]
        if isinstance(value, str):
            whens.append((kind == "string", self.substring(doc.op("#>>", return_type=Text)(self._path(path)), value)))
        return case(*whens)

    def like(self, text: ColumnElement[Any], parts: list[LikePart]) -> ColumnElement[bool]:
        pattern = "".join(
            "%" if k == "any" else "_" if k == "one" else "\\" + c if c in "%_\\" else c for k, c in parts
        )
        return text.like(literal(pattern, Text), escape="\\")

    def substring(self, text: ColumnElement[Any], needle: str) -> ColumnElement[bool]:
        return func.strpos(text, literal(needle, Text)) > 0

    def ordered(self, text: ColumnElement[Any]) -> ColumnElement[Any]:
        return text.collate("C")  # code-point order, as in Python and SQLite


__all__ = ["JsonDialect", "PostgresJson", "SqliteJson", "for_dialect"]
