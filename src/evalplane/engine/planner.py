"""Turning a triggered run into work units, in the same transaction that starts it.

The kind of target that serves the task (``targets.TARGETS``) selects the units; planning
enqueues them, counts what was already evaluated, and moves the run to RUNNING — or FAILED
with the reason when the kind finds nothing it can evaluate.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.clock import utcnow
from evalplane.db.models import TaskRun
from evalplane.domains.task_runs.transitions import PENDING, RUNNING, transition
from evalplane.domains.tasks.repository import record_activity
from evalplane.engine.plans import TaskPlan
from evalplane.engine.run_start import CannotStart, RunChanged, fail
from evalplane.engine.targets import serving
from evalplane.jobs import units


@dataclass(frozen=True, slots=True)
class Planned:
    enqueued: int
    already_done: int


async def plan_backfill(session: AsyncSession, run: TaskRun, plan: TaskPlan) -> Planned | None:
    """Create the run's units and move it to RUNNING; None if the run could not start."""
    kind = serving(plan)
    try:
        if kind is None:
            raise CannotStart(plan.scope_mismatch() or "The task's evaluators have no scope this server runs.")
        selection = await kind.select(session, run, plan)
    except CannotStart as exc:
        await fail(session, run, PENDING, exc.reason)
        return None
    enqueued = await units.enqueue(
        session, run_id=run.id, task_id=plan.task.id, units=selection.units, override=run.override_evaluations
    )
    already = len(selection.units) - enqueued
    values = {"num_skipped": TaskRun.num_skipped + already, **selection.run_values}
    if not await transition(session, run.id, PENDING, RUNNING, **values):
        raise RunChanged(run.id)
    await record_activity(session, plan.task.id, last_run_at=utcnow())
    return Planned(enqueued=enqueued, already_done=already)
