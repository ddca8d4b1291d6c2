"""How a drained run ends: COMPLETED, unless its configuration let it evaluate nothing at all.

A run whose every unit was skipped for want of a variable (no trace resolved the mapped
``attribute_path``, no span carried the mapped column) found nothing wrong with the data —
the task asks for values that are not there. It ends FAILED with that reason, so the user
sees why instead of a silent COMPLETED with nothing evaluated.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.db.models import WorkUnit
from evalplane.jobs.units import ERRORED, SKIPPED, SUCCEEDED

NO_VALUE = "no value for "
_NOUNS = {"SPAN": "span", "TRACE": "trace", "SESSION": "session", "EXPERIMENT_RUN": "experiment run"}


async def nothing_evaluable(session: AsyncSession, run_id: int) -> str | None:
    """The failure reason for a run whose units all lacked a variable; None otherwise."""
    rows = (
        await session.execute(
            select(WorkUnit.state, WorkUnit.target_kind, WorkUnit.detail, func.count())
            .where(WorkUnit.run_id == run_id, WorkUnit.state.in_([SUCCEEDED, ERRORED, SKIPPED]))
            .group_by(WorkUnit.state, WorkUnit.target_kind, WorkUnit.detail)
        )
    ).all()
    if not rows or any(state != SKIPPED or not (detail or "").startswith(NO_VALUE) for state, _, detail, _ in rows):
        return None
    state, kind, detail, _ = max(rows, key=lambda row: row[3])
    total = sum(row[3] for row in rows)
    noun = _NOUNS.get(kind, "target")
    variables = (detail or "")[len(NO_VALUE) :]
    return (
        f"Nothing could be evaluated: none of the {total} {noun}s had a value for {variables}. "
        "Check the evaluator's variable mappings (query_mappings / column_mappings)."
    )
