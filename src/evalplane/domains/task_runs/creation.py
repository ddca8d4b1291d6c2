"""The one way a task run comes to exist — a trigger through the API, the continuous run the
engine records into, a run_experiment run's follow-up evaluations.

The run is added and flushed, so the database's partial unique index (one active run of each
kind per task) answers at once: an ``IntegrityError`` reaches the caller, who knows whether
that means 409 or "try again next tick". The task's ``last_run_at`` is stamped as activity,
never as an edit: ``updated_at`` keeps meaning "the configuration last changed".
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.clock import utcnow
from evalplane.db.models import TaskRun
from evalplane.domains.task_runs.transitions import PENDING
from evalplane.domains.tasks.repository import record_activity


async def create_run(
    session: AsyncSession,
    task_id: int,
    *,
    kind: str = "BACKFILL",
    status: str = PENDING,
    created_by_user_id: int | None,
    **fields: Any,
) -> TaskRun:
    now = utcnow()
    fields.setdefault("parameters", {})
    run = TaskRun(
        task_id=task_id,
        kind=kind,
        status=status,
        created_by_user_id=created_by_user_id,
        created_at=now,
        updated_at=now,
        **fields,
    )
    session.add(run)
    await session.flush()
    await record_activity(session, task_id, last_run_at=now)
    return run
