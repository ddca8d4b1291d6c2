"""Writing a batch's results: unit states by compare-and-set, what each kind of target keeps
(``targets.TARGETS``: evaluations on spans, traces, sessions and experiment runs by upsert,
generated experiment runs by insert — once per unit, guarded by the unit's compare-and-set),
and run counters by increment — all in one transaction, so a unit is counted exactly once
even when its lease expired and another worker redid it."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core import metrics
from evalplane.core.clock import utcnow
from evalplane.db.dialect import dialect_of
from evalplane.db.models import TaskRun
from evalplane.domains.task_runs.transitions import FAILED, RUNNING, transition
from evalplane.engine.executor import BatchResult, UnitResult
from evalplane.engine.scopes.grouped import GROUP_SCOPES
from evalplane.engine.targets import TARGETS
from evalplane.jobs import units

_COUNTERS = {units.SUCCEEDED: "num_successes", units.ERRORED: "num_errors", units.SKIPPED: "num_skipped"}


async def record(session: AsyncSession, worker: str, batch: BatchResult) -> int:
    """Persist a batch; returns how many units this worker still owned and recorded."""
    now = utcnow()
    counters: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    held_results: dict[str, list[UnitResult]] = defaultdict(list)  # by kind of target
    recorded = 0
    await _lock_runs(
        session, {r.unit.run_id for r in batch.done} | {u.run_id for u, _ in batch.retry} | set(batch.fatal)
    )
    # One compare-and-set per distinct outcome (state, detail), not one per unit.
    outcomes: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    for result in batch.done:
        outcomes[(result.state, result.detail)].append(result.unit.id)
    held: set[int] = set()
    for (state, detail), ids in outcomes.items():
        held |= await units.finish_many(session, worker=worker, unit_ids=ids, state=state, detail=detail)
    await units.requeue_grown(
        session, [r.unit for r in batch.done if r.unit.id in held and r.unit.target_kind in GROUP_SCOPES]
    )
    for result in batch.done:
        if result.unit.id not in held:
            continue  # the lease was lost: whoever holds the unit now records it
        recorded += 1
        run = counters[result.unit.run_id]
        if result.state in _COUNTERS:  # a trace the filters turn away is not counted
            run[_COUNTERS[result.state]] += 1
        run["prompt_tokens"] += result.usage.prompt_tokens
        run["completion_tokens"] += result.usage.completion_tokens
        held_results[result.unit.target_kind].append(result)
    dialect = dialect_of(session)
    for kind, results in held_results.items():
        await TARGETS[kind].store(session, dialect, results, now, worker)
    for run_id, values in counters.items():
        await session.execute(
            update(TaskRun)
            .where(TaskRun.id == run_id)
            .values(
                **{name: getattr(TaskRun, name) + amount for name, amount in values.items() if amount}, updated_at=now
            )
            .execution_options(synchronize_session=False)
        )
    retries: dict[tuple[int, str], list[int]] = defaultdict(list)
    for unit, reason in batch.retry:
        retries[(unit.attempts, reason)].append(unit.id)
    for (attempts, reason), ids in retries.items():
        await units.release(session, worker=worker, unit_ids=ids, delay=_retry_delay(attempts), detail=reason)
    for run_id, reason in batch.fatal.items():
        if await transition(session, run_id, RUNNING, FAILED, failure_reason=reason):
            await units.cancel_run(session, run_id)
    _count(counters, len(batch.retry))
    return recorded


async def _lock_runs(session: AsyncSession, run_ids: set[int]) -> None:
    """Take the runs' rows before any unit row. Cancelling a run (the API, or a fatal error
    here) locks the run and then all its open units; recording in the other order — units,
    then the run's counters — deadlocked against it on PostgreSQL. SQLite has one writer."""
    dialect = dialect_of(session)
    if run_ids and dialect.is_postgresql:
        await session.execute(
            dialect.lock_for_counters(select(TaskRun.id).where(TaskRun.id.in_(sorted(run_ids))).order_by(TaskRun.id))
        )


def _count(counters: dict[int, dict[str, int]], released: int) -> None:
    """Process metrics (counted before the commit: a failed commit over-counts, rarely)."""
    by_state = {name: state for state, name in _COUNTERS.items()}
    for values in counters.values():
        for name, amount in values.items():
            if name in by_state:
                metrics.EVALUATIONS.inc(amount, outcome=by_state[name])
            elif amount:
                metrics.TOKENS.inc(amount, kind=name.removesuffix("_tokens"))
    if released:
        metrics.UNITS_RELEASED.inc(released)


def _retry_delay(attempts: int) -> Any:
    from datetime import timedelta

    return timedelta(seconds=min(300, 15 * max(1, attempts)))


def per_unit(batch: BatchResult) -> list[BatchResult]:
    """A batch cut into one result per unit, each with its run's fatal reason (failing a run
    twice is a no-op), so units can be recorded one by one when recording them together fails."""
    parts = [BatchResult(done=[done]) for done in batch.done]
    parts += [BatchResult(retry=[retry]) for retry in batch.retry]
    for part in parts:
        run_id = part.done[0].unit.run_id if part.done else part.retry[0][0].run_id
        if run_id in batch.fatal:
            part.fatal[run_id] = batch.fatal[run_id]
    return parts
