"""Continuous mode for traces and sessions: those that received spans are (re)queued to run
once idle, so a session that grows is evaluated again and its result replaced."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.clock import utcnow
from evalplane.db.models import TaskRun
from evalplane.engine.plans import EvaluatorPlan, TaskPlan
from evalplane.engine.sampling import sampled
from evalplane.engine.scopes.grouped import GROUP_SCOPES, keys_among, new_units
from evalplane.jobs import units

Feed = Callable[[AsyncSession, TaskPlan, EvaluatorPlan, TaskRun, int, int, timedelta], Awaitable[int]]


def feed_groups(kind: str) -> Feed:
    scope = GROUP_SCOPES[kind]

    async def feed(
        session: AsyncSession,
        plan: TaskPlan,
        evaluator: EvaluatorPlan,
        run: TaskRun,
        cursor: int,
        high: int,
        idle: timedelta,
    ) -> int:
        """Traces/sessions that received spans with row ids in (cursor, high]: a unit still
        waiting is pushed back, one already evaluated is reset. The filters are asked when the
        unit runs, on all its spans."""
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
        due = utcnow() + idle
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
        return await units.enqueue(
            session, run_id=run.id, task_id=plan.task.id, units=fresh, override=True, not_before=due
        )

    return feed
