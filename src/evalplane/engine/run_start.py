"""What planning may do to the run it is starting, whatever the kind of target: fail it with
a reason the user reads, or find that it moved on meanwhile."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.db.models import TaskRun
from evalplane.domains.task_runs.transitions import FAILED, transition


class RunChanged(RuntimeError):
    """The run left PENDING while it was being planned; the caller rolls the plan back."""


async def fail(session: AsyncSession, run: TaskRun, expected: str, reason: str) -> None:
    await transition(session, run.id, expected, FAILED, failure_reason=reason)
