"""Continuous evaluation: each tick, a continuous task's newly stored spans become work units
in the task's open CONTINUOUS run, as the kind of target of each evaluator says
(``targets.TARGETS[...].feed``: a unit per span, or a trace/session queued until idle).

Spans are read by row id after a per-task cursor. On SQLite ids are handed out in commit
order, so the cursor can move to the newest id seen. On PostgreSQL a sequence value can
commit after a larger one, so the cursor trails by ``lag`` and the trailing spans are read
again on the next tick; the work units' unique key makes the re-read harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.clock import utcnow
from evalplane.db.dialect import dialect_of
from evalplane.db.models import Span, Task, TaskRun
from evalplane.domains.task_runs.creation import create_run
from evalplane.domains.task_runs.transitions import COMPLETED, FAILED, RUNNING, transition
from evalplane.domains.tasks.repository import record_activity
from evalplane.engine.plans import SESSION, TaskPlan
from evalplane.engine.run_start import CannotStart
from evalplane.engine.targets import TARGETS
from evalplane.jobs import units

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
        kind = TARGETS[evaluator.scope]  # a known project scope: scope_mismatch said so
        assert kind.feed is not None
        try:
            enqueued += await kind.feed(session, plan, evaluator, run, cursor, high, policy.idle(evaluator.scope))
        except CannotStart as exc:
            await transition(session, run.id, RUNNING, FAILED, failure_reason=exc.reason)
            return enqueued
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
