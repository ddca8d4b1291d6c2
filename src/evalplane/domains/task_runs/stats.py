"""Deployment-wide figures about runs and their work, for /metrics and the operator CLI.

Every query here is cheap on a large database: runs are few, and open units are read
through the partial indexes on PENDING and LEASED units (finished units are never scanned).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.db.models import TaskRun, WorkUnit
from evalplane.domains.task_runs.transitions import RUN_STATUSES
from evalplane.jobs import units


@dataclass(frozen=True, slots=True)
class Totals:
    runs_by_status: dict[str, int]
    open_units: dict[str, int]  # PENDING and LEASED, deployment-wide
    results: dict[str, int]  # SUCCEEDED / ERRORED / SKIPPED, summed over all runs
    tokens: dict[str, int]  # prompt / completion, summed over all runs


async def totals(session: AsyncSession) -> Totals:
    runs = dict.fromkeys(RUN_STATUSES, 0)
    for status, count in (await session.execute(select(TaskRun.status, func.count()).group_by(TaskRun.status))).all():
        runs[status] = int(count)
    open_units = {}
    for state in (units.PENDING, units.LEASED):
        open_units[state] = int(
            await session.scalar(select(func.count()).select_from(WorkUnit).where(WorkUnit.state == state)) or 0
        )
    sums = (
        await session.execute(
            select(
                func.coalesce(func.sum(TaskRun.num_successes), 0),
                func.coalesce(func.sum(TaskRun.num_errors), 0),
                func.coalesce(func.sum(TaskRun.num_skipped), 0),
                func.coalesce(func.sum(TaskRun.prompt_tokens), 0),
                func.coalesce(func.sum(TaskRun.completion_tokens), 0),
            )
        )
    ).one()
    return Totals(
        runs_by_status=runs,
        open_units=open_units,
        results={units.SUCCEEDED: int(sums[0]), units.ERRORED: int(sums[1]), units.SKIPPED: int(sums[2])},
        tokens={"prompt": int(sums[3]), "completion": int(sums[4])},
    )


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int


async def progress(session: AsyncSession, run_id: int) -> Progress:
    """How many of a run's units are finished, out of all it has (so far)."""
    counts = await units.state_counts(session, run_id)
    total = sum(counts.values())
    return Progress(done=total - counts.get(units.PENDING, 0) - counts.get(units.LEASED, 0), total=total)
