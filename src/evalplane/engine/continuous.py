"""Continuous evaluation: each tick, a continuous task's newly stored spans become work units
in the task's open CONTINUOUS run.

Spans are read by row id after a per-task cursor. On SQLite ids are handed out in commit
order, so the cursor can move to the newest id seen. On PostgreSQL a sequence value can
commit after a larger one, so the cursor trails by ``lag`` and the trailing spans are read
again on the next tick; the work units' unique key makes the re-read harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.clock import utcnow
from evalplane.db.dialect import dialect_of
from evalplane.db.models import Span, Task, TaskRun
from evalplane.domains.task_runs.creation import create_run
from evalplane.domains.task_runs.transitions import COMPLETED, FAILED, RUNNING, transition
from evalplane.domains.tasks.repository import record_activity
from evalplane.engine.plans import SESSION, SPAN, EvaluatorPlan, TaskPlan
from evalplane.engine.sampling import sampled
from evalplane.engine.scopes.grouped import GROUP_SCOPES, keys_among, new_units
from evalplane.engine.selection import span_filter
from evalplane.filters import FilterSyntaxError
from evalplane.jobs import units
from evalplane.jobs.units import NewUnit

CONTINUOUS = "CONTINUOUS"


@dataclass(frozen=True, slots=True)
class ContinuousPolicy:
    batch: int = 5_000  # spans looked at per task per tick
    lag: timedelta = timedelta(seconds=10)  # PostgreSQL only, see the module docstring
    run_length: timedelta = timedelta(hours=1)  # a continuous run is closed and a new one opened
    cool_down: timedelta = timedelta(minutes=5)  # after a run failed (e.g. bad credentials)
    # A trace or session is evaluated once it has received no span for this long.
    trace_idle: timedelta = timedelta(seconds=30)
    session_idle: timedelta = timedelta(seconds=300)

    def idle(self, scope: str) -> timedelta:
        return self.session_idle if scope == SESSION else self.trace_idle


async def open_run(session: AsyncSession, task: Task, policy: ContinuousPolicy) -> TaskRun | None:
    run = await session.scalar(
        select(TaskRun).where(TaskRun.task_id == task.id, TaskRun.kind == CONTINUOUS, TaskRun.status == RUNNING)
    )
    if run is not None:
        return run
    last_failure = await session.scalar(
        select(func.max(TaskRun.run_finished_at)).where(
            TaskRun.task_id == task.id, TaskRun.kind == CONTINUOUS, TaskRun.status == FAILED
        )
    )
    now = utcnow()
    if last_failure is not None and now - last_failure < policy.cool_down:
        return None
    return await create_run(
        session,
        task.id,
        kind=CONTINUOUS,
        status=RUNNING,
        created_by_user_id=task.created_by_user_id,
        run_started_at=now,
        data_start_time=now,
        data_end_time=now,
    )


async def _start_cursor(session: AsyncSession, task: Task) -> int:
    """A task created on a live project starts from its creation; a backfill covers the past."""
    before = await session.scalar(
        select(func.max(Span.id)).where(Span.project_id == task.project_id, Span.ingested_at < task.created_at)
    )
    return int(before or 0)


async def tick_task(session: AsyncSession, plan: TaskPlan, policy: ContinuousPolicy) -> int:
    """Enqueue units for the task's new spans; returns how many units were created."""
    task = plan.task
    if task.project_id is None or not plan.evaluators:
        return 0
    cursor = task.continuous_cursor if task.continuous_cursor is not None else await _start_cursor(session, task)
    window = (
        await session.execute(
            select(Span.id, Span.ingested_at)
            .where(Span.project_id == task.project_id, Span.id > cursor)
            .order_by(Span.id)
            .limit(policy.batch)
        )
    ).all()
    if not window:
        if task.continuous_cursor != cursor:
            await record_activity(session, task.id, continuous_cursor=cursor)
        return 0
    high = window[-1][0]
    run = await open_run(session, task, policy)
    if run is None:
        return 0
    dialect = dialect_of(session)
    mismatch = plan.scope_mismatch()
    if mismatch:
        await transition(session, run.id, RUNNING, FAILED, failure_reason=mismatch)
        return 0
    enqueued = 0
    for evaluator in plan.evaluators:
        if evaluator.scope != SPAN:
            enqueued += await _touch_groups(session, plan, evaluator, run, cursor, high, policy)
            continue
        try:
            where = span_filter(dialect.name, task.query_filter, evaluator.query_filter)
        except FilterSyntaxError as exc:
            await transition(
                session, run.id, RUNNING, FAILED, failure_reason=f"The task's filter is no longer valid: {exc.detail}"
            )
            return enqueued
        rows = (
            await session.execute(
                select(Span.id, Span.span_id).where(
                    and_(Span.project_id == task.project_id, Span.id > cursor, Span.id <= high, where)
                )
            )
        ).all()
        new_units = [
            NewUnit(
                evaluator_key=evaluator.evaluator_id,
                target_kind="SPAN",
                target_id=row_id,
                fingerprint=evaluator.fingerprint,
            )
            for row_id, span_id in rows
            if sampled(span_id, task.sampling_rate)
        ]
        enqueued += await units.enqueue(session, run_id=run.id, task_id=task.id, units=new_units)
    now = utcnow()
    if dialect.ids_in_commit_order:
        new_cursor = high
    else:
        settled = [row_id for row_id, ingested_at in window if ingested_at <= now - policy.lag]
        new_cursor = max(settled) if settled else cursor
    activity: dict[str, object] = {"continuous_cursor": new_cursor}
    if enqueued:
        activity["last_run_at"] = now
    await record_activity(session, task.id, **activity)
    run.data_end_time = now
    return enqueued


async def _touch_groups(
    session: AsyncSession,
    plan: TaskPlan,
    evaluator: EvaluatorPlan,
    run: TaskRun,
    cursor: int,
    high: int,
    policy: ContinuousPolicy,
) -> int:
    """Traces/sessions that received spans are (re)queued to run once idle: a unit still waiting
    is pushed back, one already evaluated is reset, so a session that grows is evaluated again
    and its result replaced. The filters are asked when the unit runs, on all its spans."""
    scope = GROUP_SCOPES[evaluator.scope]
    assert plan.task.project_id is not None
    touched = await keys_among(session, scope, plan.task.project_id, cursor, high)
    keys = [key for key in touched if sampled(key, plan.task.sampling_rate)]
    fresh = new_units(scope, evaluator, plan.task.project_id, keys)
    # Spans read again (PostgreSQL's cursor trails by `lag`) must not redo an evaluation that
    # already saw them: only spans stored after a unit was claimed make it go round again.
    marks = await units.marks(
        session,
        task_id=plan.task.id,
        evaluator_key=evaluator.evaluator_id,
        target_kind=scope.kind,
        target_ids=[u.target_id for u in fresh],
    )
    fresh = [
        u
        for u in fresh
        if u.target_id not in marks
        or marks[u.target_id][0] == units.PENDING
        or marks[u.target_id][1] < touched[str((u.payload or {})["key"])]
    ]
    due = utcnow() + policy.idle(evaluator.scope)
    # Units being evaluated right now first: they are redone once recorded. The rest are
    # reset (override) and wait until idle again.
    await units.postpone_leased(
        session,
        task_id=plan.task.id,
        evaluator_key=evaluator.evaluator_id,
        target_kind=scope.kind,
        target_ids=[u.target_id for u in fresh],
        until=due,
    )
    return await units.enqueue(session, run_id=run.id, task_id=plan.task.id, units=fresh, override=True, not_before=due)


async def close_stale_runs(session: AsyncSession, policy: ContinuousPolicy) -> int:
    """Complete drained continuous runs that are old enough, or whose task stopped being continuous."""
    now = utcnow()
    candidates = (
        await session.execute(
            select(TaskRun.id, TaskRun.run_started_at, Task.is_continuous)
            .join(Task, Task.id == TaskRun.task_id)
            .where(TaskRun.kind == CONTINUOUS, TaskRun.status == RUNNING)
        )
    ).all()
    closed = 0
    for run_id, started, still_continuous in candidates:
        old = started is not None and now - started >= policy.run_length
        if (old or not still_continuous) and await units.open_count(session, run_id) == 0:
            closed += await transition(session, run_id, RUNNING, COMPLETED)
    return closed
