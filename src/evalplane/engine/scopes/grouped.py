"""Trace and session targets: units that group spans (by ``context.trace_id`` or by
``attributes.session.id``) — how they are selected, how their variables are loaded, and
where their results are written.

A unit needs an integer ``target_id``: it is a 63-bit hash of (project, trace/session id),
stable across runs (so the work-unit key still skips what was evaluated), and the id itself
travels in the unit's payload. Two ids of one project colliding is a 1-in-2^63 event.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.db.dialect import SqlDialect
from evalplane.db.models import SessionEvaluation, Span, Task, TaskRun, TraceEvaluation
from evalplane.engine.plans import SESSION, TRACE, EvaluatorPlan
from evalplane.engine.sampling import sampled
from evalplane.engine.scopes.admission import QueryFilters, admission_sql, admitted, filter_flags, mapped_ids
from evalplane.engine.scopes.conversation import conversation, first_root
from evalplane.engine.span_documents import RAW_SPAN_COLUMNS, decoded_span_document
from evalplane.engine.variables import resolve_path, resolve_variables
from evalplane.jobs.units import Claimed, NewUnit

VALUE_LIMIT = 100_000  # characters kept of each collected value
_SPANS: Any = Span.__table__


@dataclass(frozen=True, slots=True)
class GroupScope:
    kind: str  # the unit's target_kind: TRACE | SESSION
    column: str  # the spans column holding the unit's id
    results: Table  # where one evaluation per unit is kept
    key_name: str  # that table's id column


TRACES = GroupScope(TRACE, "trace_id", TraceEvaluation.__table__, "trace_id")  # type: ignore[arg-type]
SESSIONS = GroupScope(SESSION, "session_id", SessionEvaluation.__table__, "session_id")  # type: ignore[arg-type]
GROUP_SCOPES = {TRACE: TRACES, SESSION: SESSIONS}


def target_id(project_id: int, key: str) -> int:
    digest = hashlib.blake2s(f"{project_id}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1  # fits a signed BIGINT


def new_units(scope: GroupScope, evaluator: EvaluatorPlan, project_id: int, keys: Sequence[str]) -> list[NewUnit]:
    return [
        NewUnit(
            evaluator_key=evaluator.evaluator_id,
            target_kind=scope.kind,
            target_id=target_id(project_id, key),
            fingerprint=evaluator.fingerprint,
            payload={"project_id": project_id, "key": key},
        )
        for key in keys
    ]


def keys_statement(scope: GroupScope, task: Task, qf: QueryFilters | None, run: TaskRun, dialect: str) -> Any:
    """Traces/sessions with a span in the run's window that the filters admit (looking at all
    their spans), most recently active first."""
    column = _SPANS.c[scope.column]
    window = [Span.project_id == task.project_id, column.is_not(None)]
    if run.data_start_time is not None:
        window.append(Span.start_time >= run.data_start_time)
    if run.data_end_time is not None:
        window.append(Span.start_time < run.data_end_time)
    groups = (
        select(column.label("key"), func.max(Span.start_time).label("last")).where(*window).group_by(column).subquery()
    )
    return (
        select(groups.c.key)
        .where(admission_sql(qf, dialect, task.project_id, scope.column, groups.c.key))
        .order_by(groups.c.last.desc(), groups.c.key)
    )


async def select_keys(
    session: AsyncSession,
    scope: GroupScope,
    task: Task,
    qf: QueryFilters | None,
    run: TaskRun,
    dialect: str,
    limit: int,
) -> list[str]:
    """The ``limit`` first of ``keys_statement`` that the sample keeps."""
    stmt = keys_statement(scope, task, qf, run, dialect)
    chosen: list[str] = []
    result = await session.stream(stmt.execution_options(yield_per=2000))
    async for (key,) in result:
        if sampled(key, task.sampling_rate):
            chosen.append(key)
            if len(chosen) >= limit:
                break
    await result.close()
    return chosen


async def keys_among(
    session: AsyncSession, scope: GroupScope, project_id: int, low_id: int, high_id: int
) -> dict[str, datetime]:
    """Traces/sessions that received spans with row ids in (low_id, high_id] (continuous mode),
    with when the newest of those spans was stored."""
    column = _SPANS.c[scope.column]
    stmt = (
        select(column, func.max(Span.ingested_at))
        .where(Span.project_id == project_id, Span.id > low_id, Span.id <= high_id, column.is_not(None))
        .group_by(column)
    )
    return {key: newest for key, newest in (await session.execute(stmt)).all()}


async def load_documents(
    session: AsyncSession,
    scope: GroupScope,
    qf: QueryFilters | None,
    evaluator: EvaluatorPlan,
    claimed: Sequence[Claimed],
    dialect: str,
) -> dict[int, dict[str, Any]]:
    """Per unit: ``{"admitted": bool, "variables": {...}}``, or nothing when its spans are gone.

    The filters are asked again when the unit runs: a continuous unit was queued on its first
    span, before the trace held the spans that admit it."""
    by_project: dict[int, set[str]] = defaultdict(set)
    for unit in claimed:
        payload = unit.payload or {}
        by_project[int(payload["project_id"])].add(str(payload["key"]))
    documents: dict[int, dict[str, Any]] = {}
    for project_id, keys in by_project.items():
        groups = await _spans_of(session, scope, qf, project_id, keys, dialect)
        for unit in claimed:
            payload = unit.payload or {}
            key = str(payload["key"])
            if int(payload["project_id"]) != project_id or key not in groups:
                continue
            spans = groups[key]
            documents[unit.id] = {
                "admitted": admitted(qf, set().union(*(span.matches for span in spans))),
                "variables": unit_variables(scope, evaluator, qf, spans),
            }
    return documents


class GroupSpan:
    """One span of a trace/session batch. Its JSON columns are decoded only when something reads
    ``document``: a unit usually needs one or two of its spans (those its mappings choose, the
    root), and decoding every span's attributes was the trace scope's largest extra cost."""

    __slots__ = ("_document", "_row", "matches")

    def __init__(self, row: Any, matches: frozenset[str]) -> None:
        self._row = row
        self._document: dict[str, Any] | None = None
        self.matches = matches  # the query_filters ids this span matches

    @property
    def span_id(self) -> str:
        return str(self._row.span_id)

    @property
    def parent_id(self) -> str | None:
        return self._row.parent_id

    @property
    def document(self) -> dict[str, Any]:
        if self._document is None:
            self._document = decoded_span_document(self._row)
        return self._document


async def _spans_of(
    session: AsyncSession, scope: GroupScope, qf: QueryFilters | None, project_id: int, keys: set[str], dialect: str
) -> dict[str, list[GroupSpan]]:
    """The groups' spans in start-time order, each with the filters it matches: one query for
    the batch, not one per filter and mapping."""
    flags = filter_flags(qf, dialect)
    stmt = batch_spans_statement(scope, flags, project_id, keys)
    # Sorted here, not by ORDER BY: to skip a sort, SQLite without statistics walked the whole
    # project's (project_id, start_time) index per batch instead of probing the batch's ids.
    rows = sorted((await session.execute(stmt)).all(), key=lambda row: (row.start_time, row.id))
    first_flag = len(RAW_SPAN_COLUMNS) + 1
    groups: dict[str, list[GroupSpan]] = defaultdict(list)
    for row in rows:
        matches = frozenset(id for n, (id, _) in enumerate(flags) if row[first_flag + n])
        groups[row.group_key].append(GroupSpan(row, matches))
    return groups


def root_of(spans: Sequence[GroupSpan]) -> GroupSpan | None:
    """The group's root span, found without decoding any span."""
    return first_root(spans, [(span.span_id, span.parent_id) for span in spans])


def batch_spans_statement(scope: GroupScope, flags: list[tuple[str, Any]], project_id: int, keys: set[str]) -> Any:
    """The spans of a batch's traces/sessions (no ORDER BY: see ``_spans_of``), each with ``flags``."""
    column = _SPANS.c[scope.column]
    return select(*RAW_SPAN_COLUMNS, column.label("group_key"), *(flag for _, flag in flags)).where(
        Span.project_id == project_id, column.in_(sorted(keys))
    )


def unit_variables(
    scope: GroupScope, evaluator: EvaluatorPlan, qf: QueryFilters | None, spans: list[GroupSpan]
) -> dict[str, Any]:
    """Mapped variables from the matching spans (start-time order, joined with ", "); the
    session's ``conversation``; any other variable read from the root span (the first trace's,
    for a session) as a span evaluator would read it."""
    mappings = {str(m["variable_name"]): m for m in evaluator.query_mappings}
    names = list(evaluator.variables) + [name for name in mappings if name not in evaluator.variables]
    values: dict[str, Any] = {}
    for name in names:
        if name in mappings:
            values[name] = _collect(qf, spans, mappings[name])
        elif name == "conversation" and scope.kind == SESSION:
            values[name] = conversation([span.document for span in spans])
        else:
            root = root_of(spans)
            values[name] = resolve_variables(root.document if root else {}, [name], None)[name]
    return values


def _collect(qf: QueryFilters | None, spans: list[GroupSpan], mapping: dict[str, Any]) -> str | None:
    ids = mapped_ids(qf, mapping.get("query_ids") or ())
    chosen = [span.document for span in spans if not ids or not span.matches.isdisjoint(ids)]
    path = str(mapping.get("attribute_path") or "")
    parts = []
    for doc in chosen:
        value = resolve_path(doc, path)
        if value is None and not path.startswith("attributes."):
            value = resolve_path(doc, f"attributes.{path}")  # "input.value" means the attribute
        text = as_text(value)
        if text:
            parts.append(text[:VALUE_LIMIT])
    return ", ".join(parts) if parts else None


def as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


async def record_results(
    session: AsyncSession, scope: GroupScope, dialect: SqlDialect, rows: list[dict[str, Any]]
) -> None:
    """One evaluation per (project, trace/session, name): a redo or a re-evaluation replaces it."""
    latest = {(row["project_id"], row[scope.key_name], row["name"]): row for row in rows}
    # One statement with the rows as parameters (executemany), built once: its compiled form is cached.
    await session.execute(_upsert(scope, dialect), list(latest.values()))


_UPSERTS: dict[tuple[str, str], Any] = {}


def _upsert(scope: GroupScope, dialect: SqlDialect) -> Any:
    stmt = _UPSERTS.get((scope.kind, dialect.name))
    if stmt is None:
        insert = dialect.insert(scope.results)
        stmt = _UPSERTS[(scope.kind, dialect.name)] = insert.on_conflict_do_update(
            index_elements=["project_id", scope.key_name, "name"],
            set_={
                name: insert.excluded[name]
                for name in ("label", "score", "explanation", "metadata", "task_id", "task_run_id", "updated_at")
            },
        )
    return stmt
