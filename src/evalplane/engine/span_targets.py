"""Span targets: one unit per span — which spans a run evaluates, how a batch's span documents
are loaded, and where their results are written (``span_evaluations``, one per span and name)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.db.dialect import SqlDialect, dialect_of
from evalplane.db.models import Span, SpanEvaluation, TaskRun
from evalplane.engine.evaluation_rows import evaluation_row
from evalplane.engine.executor import UnitResult
from evalplane.engine.plans import SPAN, EvaluatorPlan, TaskPlan
from evalplane.engine.run_start import CannotStart, Selection, require_one_scope
from evalplane.engine.sampling import sampled
from evalplane.engine.selection import span_filter
from evalplane.engine.span_documents import SPAN_COLUMNS, span_document
from evalplane.filters import FilterSyntaxError
from evalplane.jobs import units
from evalplane.jobs.units import Claimed, NewUnit

DEFAULT_MAX_SPANS = 10_000
_RESULT_FIELDS = ("label", "score", "explanation", "metadata", "task_id", "task_run_id", "updated_at")


def serves(plan: TaskPlan) -> bool:
    return plan.task.project_id is not None and plan.scope == SPAN


async def select_units(session: AsyncSession, run: TaskRun, plan: TaskPlan) -> Selection:
    """Per evaluator, the newest ``max_spans`` spans of the window that pass the filters and the sample."""
    require_one_scope(plan)
    limit = run.max_spans or DEFAULT_MAX_SPANS
    chosen: list[NewUnit] = []
    try:
        for evaluator in plan.evaluators:
            ids = await select_spans(session, plan, evaluator, run, limit)
            chosen += [
                NewUnit(
                    evaluator_key=evaluator.evaluator_id,
                    target_kind=SPAN,
                    target_id=row_id,
                    fingerprint=evaluator.fingerprint,
                )
                for row_id in ids
            ]
    except FilterSyntaxError as exc:
        raise CannotStart(f"The task's filter is no longer valid: {exc.detail}") from None
    return Selection(chosen)


async def select_spans(
    session: AsyncSession, plan: TaskPlan, evaluator: EvaluatorPlan, run: TaskRun, limit: int
) -> list[int]:
    """Row ids of the newest ``limit`` spans of the run's window that pass both filters and the sample."""
    task = plan.task
    dialect = dialect_of(session).name
    stmt = (
        select(Span.id, Span.span_id)
        .where(Span.project_id == task.project_id, span_filter(dialect, task.query_filter, evaluator.query_filter))
        .order_by(Span.start_time.desc(), Span.id.desc())
    )
    if run.data_start_time is not None:
        stmt = stmt.where(Span.start_time >= run.data_start_time)
    if run.data_end_time is not None:
        stmt = stmt.where(Span.start_time < run.data_end_time)
    if task.sampling_rate is None or task.sampling_rate >= 1.0:
        return [row_id for row_id, _ in (await session.execute(stmt.limit(limit))).all()]
    chosen: list[int] = []
    result = await session.stream(stmt.execution_options(yield_per=2000))
    async for row_id, span_id in result:
        if sampled(span_id, task.sampling_rate):
            chosen.append(row_id)
            if len(chosen) >= limit:
                break
    await result.close()
    return chosen


async def feed(
    session: AsyncSession,
    plan: TaskPlan,
    evaluator: EvaluatorPlan,
    run: TaskRun,
    cursor: int,
    high: int,
    idle: timedelta,
) -> int:
    """Continuous mode: units for the spans stored with row ids in (cursor, high] that pass the
    filters and the sample (a span is complete when stored: ``idle`` does not apply)."""
    task = plan.task
    try:
        where = span_filter(dialect_of(session).name, task.query_filter, evaluator.query_filter)
    except FilterSyntaxError as exc:
        raise CannotStart(f"The task's filter is no longer valid: {exc.detail}") from None
    rows = (
        await session.execute(
            select(Span.id, Span.span_id).where(
                Span.project_id == task.project_id, Span.id > cursor, Span.id <= high, where
            )
        )
    ).all()
    fresh = [
        NewUnit(
            evaluator_key=evaluator.evaluator_id, target_kind=SPAN, target_id=row_id, fingerprint=evaluator.fingerprint
        )
        for row_id, span_id in rows
        if sampled(span_id, task.sampling_rate)
    ]
    return await units.enqueue(session, run_id=run.id, task_id=task.id, units=fresh)


async def load(
    session: AsyncSession, dialect: SqlDialect, plans: Any, claimed: Sequence[Claimed]
) -> dict[int, dict[str, Any]]:
    rows = (await session.execute(select(*SPAN_COLUMNS).where(Span.id.in_([c.target_id for c in claimed])))).all()
    documents = {row.id: span_document(row) for row in rows}
    return {c.id: documents[c.target_id] for c in claimed if c.target_id in documents}


async def store(
    session: AsyncSession, dialect: SqlDialect, results: Sequence[UnitResult], now: Any, worker: str
) -> None:
    rows = [evaluation_row(r, now, worker, "span_row_id") for r in results if r.state == units.SUCCEEDED]
    if not rows:
        return
    # One result per (span, evaluation name) in a statement, or the upsert would hit itself.
    latest = {(row["span_row_id"], row["name"]): row for row in rows}
    # One statement with the rows as parameters (executemany): its compiled form is cached,
    # where a multi-row VALUES clause would be compiled again for every batch.
    await session.execute(_upsert(dialect), list(latest.values()))


_UPSERTS: dict[str, Any] = {}


def _upsert(dialect: SqlDialect) -> Any:
    stmt = _UPSERTS.get(dialect.name)
    if stmt is None:
        statement = dialect.insert(SpanEvaluation.__table__)
        stmt = _UPSERTS[dialect.name] = statement.on_conflict_do_update(
            index_elements=["span_row_id", "name"], set_={name: statement.excluded[name] for name in _RESULT_FIELDS}
        )
    return stmt
