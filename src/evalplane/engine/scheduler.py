"""The scheduler tick: hand expired leases back, start pending runs, feed continuous tasks,
and close runs with nothing left to do. Safe to run in several workers at once: rows are
taken with SKIP LOCKED on PostgreSQL and every state change is a compare-and-set."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core import metrics
from evalplane.db.dialect import dialect_of
from evalplane.db.engine import Database
from evalplane.db.models import Task, TaskRun, WorkUnit
from evalplane.domains.task_runs.transitions import COMPLETED, FAILED, PENDING, RUNNING, transition
from evalplane.engine import continuous
from evalplane.engine.continuous import ContinuousPolicy
from evalplane.engine.experiments import start_follow_ups
from evalplane.engine.outcome import nothing_evaluable
from evalplane.engine.planner import plan_backfill
from evalplane.engine.plans import load_task_plan
from evalplane.engine.run_start import RunChanged
from evalplane.jobs import units

log = logging.getLogger("evalplane.scheduler")


@dataclass
class TickReport:
    reaped: int = 0
    started: int = 0
    continuous_units: int = 0
    completed: int = 0


def _skip_locked(stmt: Any, session: AsyncSession) -> Any:
    return dialect_of(session).skip_locked(stmt)


class Scheduler:
    def __init__(self, db: Database, policy: ContinuousPolicy = ContinuousPolicy()) -> None:
        self.db = db
        self.policy = policy

    async def tick(self) -> TickReport:
        report = TickReport()
        async with self.db.session() as session:
            report.reaped = await units.reap(session)
        if report.reaped:
            metrics.LEASES_REAPED.inc(report.reaped)
            log.info("returned %s units with expired leases to the queue", report.reaped)
        report.started = await self._start_pending_runs()
        report.continuous_units = await self._feed_continuous_tasks()
        report.completed = await self._complete_drained_runs()
        return report

    async def _start_pending_runs(self) -> int:
        started = 0
        while True:
            async with self.db.session() as session:
                run = await session.scalar(
                    _skip_locked(
                        select(TaskRun)
                        .where(TaskRun.status == PENDING, TaskRun.kind == "BACKFILL")
                        .order_by(TaskRun.id)
                        .limit(1),
                        session,
                    )
                )
                if run is None:
                    return started
                plan = await load_task_plan(session, run.task_id)
                if plan is None:  # the task vanished under the run: nothing to plan, ever
                    await transition(session, run.id, PENDING, FAILED, failure_reason="The task no longer exists.")
                    continue
                try:
                    async with session.begin_nested():
                        planned = await plan_backfill(session, run, plan)
                except RunChanged:
                    continue
                started += 1
                if planned is not None:
                    log.info(
                        "run %s started: %s units, %s already evaluated", run.id, planned.enqueued, planned.already_done
                    )

    async def _feed_continuous_tasks(self) -> int:
        total = 0
        async with self.db.session() as session:
            task_ids = (
                await session.scalars(
                    select(Task.id).where(Task.is_continuous.is_(True), Task.project_id.is_not(None)).order_by(Task.id)
                )
            ).all()
        for task_id in task_ids:
            async with self.db.session() as session:
                task = await session.scalar(_skip_locked(select(Task).where(Task.id == task_id), session))
                if task is None or not task.is_continuous:
                    continue
                plan = await load_task_plan(session, task_id)
                if plan is not None:
                    total += await continuous.tick_task(session, plan, self.policy)
        async with self.db.session() as session:
            await continuous.close_stale_runs(session, self.policy)
        return total

    async def _complete_drained_runs(self) -> int:
        open_units = exists().where(WorkUnit.run_id == TaskRun.id, WorkUnit.state.in_([units.PENDING, units.LEASED]))
        completed = 0
        async with self.db.session() as session:
            drained = (
                await session.scalars(
                    select(TaskRun.id).where(TaskRun.status == RUNNING, TaskRun.kind == "BACKFILL", ~open_units)
                )
            ).all()
            for run_id in drained:
                if not await start_follow_ups(session, run_id):
                    continue  # a run_experiment run waits until its evaluation tasks can start
                reason = await nothing_evaluable(session, run_id)
                if reason is not None:
                    await transition(session, run_id, RUNNING, FAILED, failure_reason=reason)
                    continue
                completed += await transition(session, run_id, RUNNING, COMPLETED)
        return completed
