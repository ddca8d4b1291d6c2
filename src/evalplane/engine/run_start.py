"""What planning a run deals in, whatever the kind of target: the units a kind selects, the
reason a run cannot start (which the user reads), and a run that moved on meanwhile."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.db.models import TaskRun
from evalplane.domains.task_runs.transitions import FAILED, transition
from evalplane.engine.plans import TaskPlan
from evalplane.jobs.units import NewUnit


class RunChanged(RuntimeError):
    """The run left PENDING while it was being planned; the caller rolls the plan back."""


class CannotStart(Exception):
    """The run's configuration leaves nothing it can evaluate; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Selection:
    """What a kind of target chose for a run: its units, and columns the run records as it starts."""

    units: list[NewUnit]
    run_values: dict[str, Any] = field(default_factory=dict)


def require_evaluators(plan: TaskPlan) -> None:
    if not plan.evaluators:
        raise CannotStart("The task has no evaluators with a usable version.")


def require_one_scope(plan: TaskPlan) -> None:
    """A project task's evaluators must share the scope its shape asks for (rules saved before, or edited since)."""
    require_evaluators(plan)
    mismatch = plan.scope_mismatch()
    if mismatch:
        raise CannotStart(mismatch)


async def fail(session: AsyncSession, run: TaskRun, expected: str, reason: str) -> None:
    await transition(session, run.id, expected, FAILED, failure_reason=reason)
