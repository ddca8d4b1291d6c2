"""The typed syntax tree a filter parses into. Every node is an immutable value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

# The span columns a filter may name directly, with the kind of value each holds.
SPAN_COLUMNS: dict[str, str] = {
    "name": "text",
    "span_kind": "text",
    "status_code": "text",
    "status_message": "text",
    "latency_ms": "number",
    "start_time": "timestamp",
    "end_time": "timestamp",
    "parent_id": "text",
    "context.trace_id": "text",
    "context.span_id": "text",
}

EVAL_FIELDS: dict[str, str] = {"label": "text", "score": "number", "explanation": "text"}
# The evaluations a span can be filtered on: its own, its trace's and its session's.
EVAL_SCOPES = ("eval", "trace_eval", "session_eval")
# Human annotations on a span (``annotation.<name>.…``) read like its evaluations, with a note
# (``text``) where an evaluation has an explanation.
ANNOTATION_SCOPE = "annotation"
ANNOTATION_FIELDS: dict[str, str] = {"label": "text", "score": "number", "text": "text"}

ValueType = Literal["text", "number", "timestamp", "json"]
CompareOp = Literal["=", "!=", "<", "<=", ">", ">="]

# A literal: strings, numbers and booleans as written; timestamps are parsed (UTC-aware).
Value = str | int | float | bool | datetime


@dataclass(frozen=True, slots=True)
class SpanColumn:
    """A fixed span column, e.g. ``latency_ms`` or ``context.trace_id``."""

    name: str


@dataclass(frozen=True, slots=True)
class AttributeColumn:
    """``attributes.<path>``: segments are keys, or list indexes when they are all digits."""

    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EvalColumn:
    """``eval.<evaluator>.label|score|explanation``: a stored evaluation of the span
    (``trace_eval.…`` of the span's trace, ``session_eval.…`` of its session), or
    ``annotation.<name>.label|score|text``: a human annotation of the span."""

    evaluator: str
    field: Literal["label", "score", "explanation", "text"]
    scope: Literal["eval", "trace_eval", "session_eval", "annotation"] = "eval"


@dataclass(frozen=True, slots=True)
class RecordColumn:
    """A column of a dataset example or an experiment run, named exactly as the record names it
    (``topic``, ``eval.quality.score``, ``annotation.Correctness.label``); read like an attribute."""

    key: str

    @property
    def path(self) -> tuple[str, ...]:
        return (self.key,)


Column = SpanColumn | AttributeColumn | EvalColumn | RecordColumn
# Columns holding JSON values, read at ``path`` inside a document: the span's attributes, or the record.
DOCUMENT_COLUMNS = (AttributeColumn, RecordColumn)


def column_type(column: Column) -> ValueType:
    if isinstance(column, SpanColumn):
        return SPAN_COLUMNS[column.name]  # type: ignore[return-value]
    if isinstance(column, EvalColumn):
        fields = ANNOTATION_FIELDS if column.scope == ANNOTATION_SCOPE else EVAL_FIELDS
        return fields[column.field]  # type: ignore[return-value]
    return "json"


@dataclass(frozen=True, slots=True)
class Compare:
    column: Column
    op: CompareOp
    value: Value


@dataclass(frozen=True, slots=True)
class In:
    column: Column
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Like:
    """SQL LIKE, case-sensitive: ``%`` any run of characters, ``_`` one character, ``\\`` escapes."""

    column: Column
    pattern: str
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Contains:
    """Substring of a string value, or membership of an element in a list value."""

    column: Column
    value: Value
    negated: bool = False


@dataclass(frozen=True, slots=True)
class IsNull:
    column: Column
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Expr, ...]


Predicate = Compare | In | Like | Contains | IsNull
Expr = Predicate | Not | And | Or
