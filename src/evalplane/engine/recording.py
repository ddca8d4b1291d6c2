"""Writing a batch's results: unit states by compare-and-set, evaluations on spans and on
experiment runs by upsert, generated experiment runs by insert (once per unit, guarded by
the unit's compare-and-set), and run counters by increment — all in one transaction, so a
unit is counted exactly once even when its lease expired and another worker redid it."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core import metrics
from evalplane.core.clock import utcnow
from evalplane.db.dialect import dialect_of, insert_for
from evalplane.db.models import Experiment, ExperimentRun, ExperimentRunEvaluation, SpanEvaluation, TaskRun
from evalplane.domains.task_runs.transitions import FAILED, RUNNING, transition
from evalplane.engine.dataset_documents import EXPERIMENT_RUN
from evalplane.engine.executor import BatchResult, UnitResult
from evalplane.engine.experiments_generation import GenerationResult
from evalplane.engine.scopes.grouped import GROUP_SCOPES, record_results
from evalplane.jobs import units

_COUNTERS = {units.SUCCEEDED: "num_successes", units.ERRORED: "num_errors", units.SKIPPED: "num_skipped"}


def _evaluation_row(result: UnitResult, now: Any, worker: str, target_column: str = "span_row_id") -> dict[str, Any]:
    assert result.outcome is not None and result.evaluator is not None
    unit = result.unit
    metadata = {
        **result.outcome.metadata,
        "task_id": unit.task_id,
        "task_run_id": unit.run_id,
        "evaluator_id": result.evaluator.evaluator_id,
        "evaluator_version_id": result.evaluator.version_id,
        "worker": worker,  # which engine process recorded it (operators tracing a result)
    }
    if result.usage.total_tokens:
        metadata["prompt_tokens"] = result.usage.prompt_tokens
        metadata["completion_tokens"] = result.usage.completion_tokens
    return {
        target_column: unit.target_id,
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


def _grouped_row(result: UnitResult, now: Any, worker: str) -> dict[str, Any]:
    """A trace's or session's evaluation: keyed by its id in the unit's payload."""
    row = _evaluation_row(result, now, worker, "target_id")
    del row["target_id"]
    payload = result.unit.payload or {}
    key_name = GROUP_SCOPES[result.unit.target_kind].key_name
    return {**row, "project_id": payload["project_id"], key_name: payload["key"]}


async def record(session: AsyncSession, worker: str, batch: BatchResult) -> int:
    """Persist a batch; returns how many units this worker still owned and recorded."""
    now = utcnow()
    counters: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    evaluations: list[dict[str, Any]] = []
    run_evaluations: list[dict[str, Any]] = []
    generated: list[tuple[int, dict[str, Any]]] = []
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
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
        if result.state == units.SUCCEEDED and result.unit.target_kind == "SPAN":
            evaluations.append(_evaluation_row(result, now, worker))
        elif result.state == units.SUCCEEDED and result.unit.target_kind in GROUP_SCOPES:
            grouped[result.unit.target_kind].append(_grouped_row(result, now, worker))
        elif result.state == units.SUCCEEDED and result.unit.target_kind == EXPERIMENT_RUN:
            run_evaluations.append(_evaluation_row(result, now, worker, "experiment_run_id"))
        elif isinstance(result, GenerationResult) and result.run_row is not None:
            generated.append((result.unit.target_id, result.run_row))
    if evaluations:
        await _upsert_span_evaluations(session, evaluations)
    if run_evaluations:
        await _upsert_run_evaluations(session, run_evaluations)
    for kind, rows in grouped.items():
        scope = GROUP_SCOPES[kind]
        await record_results(session, scope, dialect_of(session), rows)
    if generated:
        # Dataset order within a batch; batches land in the order they finish.
        await _insert_experiment_runs(session, [row for _, row in sorted(generated, key=lambda g: g[0])], now)
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


async def _upsert_span_evaluations(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    # One result per (span, evaluation name) in a statement, or the upsert would hit itself.
    latest = {(row["span_row_id"], row["name"]): row for row in rows}
    dialect = dialect_of(session).name
    # One statement with the rows as parameters (executemany): its compiled form is cached,
    # where a multi-row VALUES clause would be compiled again for every batch.
    await session.execute(_upsert_statement(dialect), list(latest.values()))


_UPSERTS: dict[str, Any] = {}


def _upsert_statement(dialect: str) -> Any:
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        insert = insert_for(dialect, SpanEvaluation.__table__)
        stmt = _UPSERTS[dialect] = insert.on_conflict_do_update(
            index_elements=["span_row_id", "name"],
            set_={
                name: insert.excluded[name]
                for name in ("label", "score", "explanation", "metadata", "task_id", "task_run_id", "updated_at")
            },
        )
    return stmt


async def _upsert_run_evaluations(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Results on experiment runs, one per (run, evaluation name): a redo overwrites."""
    latest = {(row["experiment_run_id"], row["name"]): row for row in rows}
    table = ExperimentRunEvaluation.__table__
    stmt = dialect_of(session).insert(table).values(list(latest.values()))
    stmt = stmt.on_conflict_do_update(
        index_elements=["experiment_run_id", "name"],
        set_={
            name: stmt.excluded[name]
            for name in ("label", "score", "explanation", "metadata", "task_id", "task_run_id", "updated_at")
        },
    )
    await session.execute(stmt)


async def _insert_experiment_runs(session: AsyncSession, rows: list[dict[str, Any]], now: Any) -> None:
    """Generated runs, in the order their units finished; experiments whose rows are gone
    (deleted meanwhile) get nothing."""
    experiment_ids = {row["experiment_id"] for row in rows}
    alive = set((await session.scalars(select(Experiment.id).where(Experiment.id.in_(experiment_ids)))).all())
    values = [
        {**row, "annotations": [], "created_at": now, "updated_at": now}
        for row in rows
        if row["experiment_id"] in alive
    ]
    if values:
        await session.execute(insert(ExperimentRun.__table__), values)


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
