"""Everything in the filter compiler that differs between SQLite and PostgreSQL.

Each class reads a value at a path inside a JSON document column (JSON text on SQLite, JSONB on
PostgreSQL) as one kind — text, number, boolean — yielding SQL NULL when the value is absent
or of another kind, and answers the few operators whose spelling differs.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Protocol

from sqlalchemy import Float, Text, and_, case, column, exists, func, literal, literal_column, or_, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from evalplane.filters.values import LikePart, list_index

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


class SqliteJson:
    """SQLite's JSON1 functions over JSON text."""

    _TYPES: ClassVar[dict[str, tuple[str, ...]]] = {
        "text": ("text",),
        "number": ("integer", "real"),
        "boolean": ("true", "false"),
    }

    def path(self, doc: ColumnElement[Any], path: tuple[str, ...]) -> ColumnElement[str]:
        """A JSON path expression; digit segments choose ``[n]`` or ``."n"`` by what they meet."""
        expr: ColumnElement[str] | None = None
        pending = "$"
        for segment in path:
            key = '."' + json.dumps(segment)[1:-1] + '"'  # SQLite matches keys as stored (JSON-escaped)
            index = list_index(segment)
            if index is None:
                pending += key
                continue
            so_far = literal(pending, Text) if expr is None else expr.concat(pending)
            step = case((func.json_type(doc, so_far) == "array", f"[{index}]"), else_=key)
            expr, pending = so_far.concat(step), ""
        if expr is None:
            return literal(pending, Text)
        return expr.concat(pending) if pending else expr

    def _type(self, doc: ColumnElement[Any], path: tuple[str, ...]) -> ColumnElement[str]:
        return func.json_type(doc, self.path(doc, path))

    def read(self, doc: ColumnElement[Any], path: tuple[str, ...], kind: Kind) -> ColumnElement[Any]:
        value = func.json_extract(doc, self.path(doc, path))
        if kind == "number":
            value = value.cast(Float)
        return case((self._type(doc, path).in_(self._TYPES[kind]), value))

    def is_null(self, doc: ColumnElement[Any], path: tuple[str, ...]) -> ColumnElement[bool]:
        kind = self._type(doc, path)
        return or_(kind.is_(None), kind == "null")

    def contains(
        self, doc: ColumnElement[Any], path: tuple[str, ...], value: str | float | bool
    ) -> ColumnElement[bool]:
        elements = func.json_each(doc, self.path(doc, path)).table_valued("type", "value")
        if isinstance(value, bool):
            match = elements.c.type == ("true" if value else "false")
        elif isinstance(value, float):
            match = and_(elements.c.type.in_(("integer", "real")), elements.c.value.cast(Float) == value)
        else:
            match = and_(elements.c.type == "text", elements.c.value == value)
        member = exists(select(literal(1)).select_from(elements).where(match))
        kind = self._type(doc, path)
        whens: list[tuple[ColumnElement[bool], ColumnElement[bool]]] = [(kind == "array", member)]
        if isinstance(value, str):
            whens.append((kind == "text", self.substring(func.json_extract(doc, self.path(doc, path)), value)))
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
        return case((func.jsonb_typeof(self._at(doc, path)) == self._TYPES[kind], value))

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
            match = and_(func.jsonb_typeof(element) == "number", element_text.cast(Float) == value)
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
