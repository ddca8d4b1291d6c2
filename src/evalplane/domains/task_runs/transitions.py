"""The task-run state machine: one table of allowed moves, applied by compare-and-set.

Every status change — cancel from the API today, the engine's start/finish later — goes
through :func:`transition`, so two writers can never both win a race on the same run.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.clock import utcnow
from evalplane.db.models import TaskRun

PENDING, RUNNING, COMPLETED, FAILED, CANCELLED = "PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"
RUN_STATUSES = (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED)
ACTIVE = frozenset({PENDING, RUNNING})
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})

ALLOWED: dict[str, frozenset[str]] = {
    PENDING: frozenset({RUNNING, CANCELLED, FAILED}),
    RUNNING: frozenset({COMPLETED, FAILED, CANCELLED}),
    COMPLETED: frozenset(),
    FAILED: frozenset(),
    CANCELLED: frozenset(),
}


class IllegalTransition(ValueError):
    """A caller asked for a move the table does not allow: a bug in the caller, not user input."""


def can_move(current: str, target: str) -> bool:
    return target in ALLOWED.get(current, frozenset())


async def transition(session: AsyncSession, run_id: int, expected: str, target: str, **values: Any) -> bool:
    """Move run ``run_id`` from ``expected`` to ``target``; False if its status was no longer ``expected``.

    Entering RUNNING stamps ``run_started_at``; entering a terminal status stamps
    ``run_finished_at``. Extra column values (counters, ``failure_reason``) ride along.
    """
    if not can_move(expected, target):
        raise IllegalTransition(f"a task run cannot move from {expected} to {target}")
    now = utcnow()
    stamps: dict[str, Any] = {"status": target, "updated_at": now}
    if target == RUNNING:
        stamps["run_started_at"] = now
    if target in TERMINAL:
        stamps["run_finished_at"] = now
    result = await session.execute(
        update(TaskRun)
        .where(TaskRun.id == run_id, TaskRun.status == expected)
        .values(**stamps, **values)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1
