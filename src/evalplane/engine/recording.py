"""Writing a batch's results: unit states by compare-and-set, evaluations on spans by
upsert, and run counters by increment — all in one transaction, so a unit is counted
exactly once even when its lease expired and another worker redid it."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.clock import utcnow
from evalplane.db.dialect import insert_for
from evalplane.db.models import SpanEvaluation, TaskRun
from evalplane.domains.task_runs.transitions import FAILED, RUNNING, transition
from evalplane.engine.executor import BatchResult, UnitResult
from evalplane.jobs import units

_COUNTERS = {units.SUCCEEDED: "num_successes", units.ERRORED: "num_errors", units.SKIPPED: "num_skipped"}


def _evaluation_row(result: UnitResult, now: Any) -> dict[str, Any]:
    assert result.outcome is not None and result.evaluator is not None
    unit = result.unit
    metadata = {
        **result.outcome.metadata,
        "task_id": unit.task_id,
        "task_run_id": unit.run_id,
        "evaluator_id": result.evaluator.evaluator_id,
        "evaluator_version_id": result.evaluator.version_id,
    }
    if result.usage.total_tokens:
        metadata["prompt_tokens"] = result.usage.prompt_tokens
        metadata["completion_tokens"] = result.usage.completion_tokens
    return {
        "span_row_id": unit.target_id,
        "name": result.evaluator.name,
        "label": result.outcome.label[:1024] if result.outcome.label else None,
        "score": result.outcome.score,
        "explanation": result.outcome.explanation,
        "metadata": metadata,
        "task_id": unit.task_id,
        "task_run_id": unit.run_id,
        "created_at": now,
        "updated_at": now,
    }


async def record(session: AsyncSession, worker: str, batch: BatchResult) -> int:
    """Persist a batch; returns how many units this worker still owned and recorded."""
    now = utcnow()
    counters: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    evaluations: list[dict[str, Any]] = []
    recorded = 0
    for result in batch.done:
        if not await units.finish(session, worker=worker, unit_id=result.unit.id, state=result.state, detail=result.detail):
            continue  # the lease was lost: whoever holds the unit now records it
        recorded += 1
        run = counters[result.unit.run_id]
        run[_COUNTERS[result.state]] += 1
        run["prompt_tokens"] += result.usage.prompt_tokens
        run["completion_tokens"] += result.usage.completion_tokens
        if result.state == units.SUCCEEDED and result.unit.target_kind == "SPAN":
            evaluations.append(_evaluation_row(result, now))
    if evaluations:
        await _upsert_span_evaluations(session, evaluations)
    for run_id, values in counters.items():
        await session.execute(
            update(TaskRun)
            .where(TaskRun.id == run_id)
            .values(
                **{name: getattr(TaskRun, name) + amount for name, amount in values.items() if amount}, updated_at=now
            )
            .execution_options(synchronize_session=False)
        )
    for unit, reason in batch.retry:
        await units.release(session, worker=worker, unit_ids=[unit.id], delay=_retry_delay(unit.attempts), detail=reason)
    for run_id, reason in batch.fatal.items():
        if await transition(session, run_id, RUNNING, FAILED, failure_reason=reason):
            await units.cancel_run(session, run_id)
    return recorded


def _retry_delay(attempts: int) -> Any:
    from datetime import timedelta

    return timedelta(seconds=min(300, 15 * max(1, attempts)))


async def _upsert_span_evaluations(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    # One result per (span, evaluation name) in a statement, or the upsert would hit itself.
    latest = {(row["span_row_id"], row["name"]): row for row in rows}
    stmt = insert_for(session.bind.dialect.name, SpanEvaluation.__table__).values(list(latest.values()))  # type: ignore[union-attr]
    stmt = stmt.on_conflict_do_update(
        index_elements=["span_row_id", "name"],
        set_={
            name: stmt.excluded[name]
            for name in ("label", "score", "explanation", "metadata", "task_id", "task_run_id", "updated_at")
        },
    )
    await session.execute(stmt)
