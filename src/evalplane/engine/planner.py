"""Turning a triggered run into work units, in the same transaction that starts it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.clock import utcnow
from evalplane.db.dialect import dialect_of
from evalplane.db.models import Span, TaskRun
from evalplane.domains.task_runs.transitions import PENDING, RUNNING, transition
from evalplane.domains.tasks.repository import record_activity
from evalplane.engine.dataset_tasks import plan_dataset_evaluation
from evalplane.engine.experiments import RUN_EXPERIMENT, plan_experiment_run
from evalplane.engine.plans import SPAN, TaskPlan
from evalplane.engine.run_start import RunChanged, fail
from evalplane.engine.sampling import sampled
from evalplane.engine.scopes.admission import parse_query_filters
from evalplane.engine.scopes.grouped import GROUP_SCOPES, new_units, select_keys
from evalplane.engine.selection import span_filter
from evalplane.filters import FilterSyntaxError
from evalplane.jobs import units
from evalplane.jobs.units import NewUnit

DEFAULT_MAX_SPANS = 10_000


@dataclass(frozen=True, slots=True)
class Planned:
    enqueued: int
    already_done: int


def span_units(plan: TaskPlan, rows: list[tuple[int, str]], evaluator_index: int) -> list[NewUnit]:
    evaluator = plan.evaluators[evaluator_index]
    return [
        NewUnit(
            evaluator_key=evaluator.evaluator_id,
            target_kind="SPAN",
            target_id=row_id,
            fingerprint=evaluator.fingerprint,
        )
        for row_id, _ in rows
    ]


async def select_spans(
    session: AsyncSession, plan: TaskPlan, evaluator_index: int, run: TaskRun, limit: int
) -> list[tuple[int, str]]:
    """The newest ``limit`` spans of the run's window that pass both filters and the sample."""
    task, evaluator = plan.task, plan.evaluators[evaluator_index]
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
    chosen: list[tuple[int, str]] = []
    if task.sampling_rate is None or task.sampling_rate >= 1.0:
        return [tuple(r) for r in (await session.execute(stmt.limit(limit))).all()]  # type: ignore[misc]
    result = await session.stream(stmt.execution_options(yield_per=2000))
    async for row_id, span_id in result:
        if sampled(span_id, task.sampling_rate):
            chosen.append((row_id, span_id))
            if len(chosen) >= limit:
                break
    await result.close()
    return chosen


async def grouped_units(
    session: AsyncSession, plan: TaskPlan, evaluator_index: int, run: TaskRun, limit: int
) -> list[NewUnit]:
    """Units for the traces or sessions of the run's window that the task's filters admit."""
    evaluator = plan.evaluators[evaluator_index]
    scope = GROUP_SCOPES[evaluator.scope]
    qf = parse_query_filters(plan.task.query_filters)
    dialect = dialect_of(session).name
    keys = await select_keys(session, scope, plan.task, qf, run, dialect, limit)
    assert plan.task.project_id is not None
    return new_units(scope, evaluator, plan.task.project_id, keys)


async def plan_backfill(session: AsyncSession, run: TaskRun, plan: TaskPlan) -> Planned | None:
    """Create the run's units and move it to RUNNING; None if the run could not start."""
    task = plan.task
    if task.project_id is None:
        return await _plan_dataset_run(session, run, plan)
    if not plan.evaluators:
        await fail(session, run, PENDING, "The task has no evaluators with a usable version.")
        return None
    mismatch = plan.scope_mismatch()
    if mismatch:
        await fail(session, run, PENDING, mismatch)
        return None
    limit = run.max_spans or DEFAULT_MAX_SPANS
    enqueued = already = 0
    try:
        for index in range(len(plan.evaluators)):
            if plan.evaluators[index].scope == SPAN:
                rows = await select_spans(session, plan, index, run, limit)
                planned = span_units(plan, rows, index)
            else:
                planned = await grouped_units(session, plan, index, run, limit)
            new = await units.enqueue(
                session, run_id=run.id, task_id=task.id, units=planned, override=run.override_evaluations
            )
            enqueued += new
            already += len(planned) - new
    except FilterSyntaxError as exc:
        await fail(session, run, PENDING, f"The task's filter is no longer valid: {exc.detail}")
        return None
    if not await transition(session, run.id, PENDING, RUNNING, num_skipped=TaskRun.num_skipped + already):
        raise RunChanged(run.id)
    await record_activity(session, task.id, last_run_at=utcnow())
    return Planned(enqueued=enqueued, already_done=already)


async def _plan_dataset_run(session: AsyncSession, run: TaskRun, plan: TaskPlan) -> Planned | None:
    """Dataset-based tasks: run_experiment generation, or evaluation of experiment runs."""
    start = plan_experiment_run if plan.task.type == RUN_EXPERIMENT else plan_dataset_evaluation
    counts = await start(session, run, plan)
    return None if counts is None else Planned(enqueued=counts[0], already_done=counts[1])
