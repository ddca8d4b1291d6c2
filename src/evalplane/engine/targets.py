"""The kinds of target a work unit can have — a span, a trace, a session, an experiment run,
a dataset example — and, for each, how a batch's documents are loaded and how its results
are stored. The worker and recording loop over this registry instead of switching on the
kind; a new kind of target is one more entry (and the module that implements it). Planning
units for a kind lives beside it: ``planner`` (spans), ``scopes.grouped`` (traces, sessions),
``dataset_tasks`` (experiment runs), ``experiments`` (examples).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.db.dialect import SqlDialect
from evalplane.db.models import Experiment, ExperimentRun, ExperimentRunEvaluation, Span, SpanEvaluation
from evalplane.engine import dataset_documents
from evalplane.engine.dataset_documents import EXAMPLE, EXPERIMENT_RUN, RUN_DEFAULTS
from evalplane.engine.evaluation_rows import evaluation_row
from evalplane.engine.executor import UnitResult
from evalplane.engine.experiments_generation import GenerationResult
from evalplane.engine.plans import SESSION, TRACE, TaskPlan
from evalplane.engine.scopes.admission import parse_query_filters
from evalplane.engine.scopes.grouped import GROUP_SCOPES, load_documents, record_results
from evalplane.engine.span_documents import SPAN_COLUMNS, span_document
from evalplane.engine.variables import SPAN_DEFAULTS
from evalplane.jobs import units
from evalplane.jobs.units import Claimed

Plans = Mapping[int, TaskPlan | None]
Documents = dict[int, dict[str, Any]]  # by unit id
_RESULT_FIELDS = ("label", "score", "explanation", "metadata", "task_id", "task_run_id", "updated_at")


@dataclass(frozen=True, slots=True)
class TargetKind:
    name: str
    # The batch's documents by unit id; a unit missing from it lost its target.
    load: Callable[[AsyncSession, SqlDialect, Plans, Sequence[Claimed]], Awaitable[Documents]]
    # Results of units this worker still held (any state): write what the kind keeps.
    store: Callable[[AsyncSession, SqlDialect, Sequence[UnitResult], Any, str], Awaitable[None]]
    # What an unmapped variable such as ``output`` means for this kind.
    defaults: Mapping[str, str]


# --- spans -------------------------------------------------------------------------------


async def _load_spans(
    session: AsyncSession, dialect: SqlDialect, plans: Plans, claimed: Sequence[Claimed]
) -> Documents:
    rows = (await session.execute(select(*SPAN_COLUMNS).where(Span.id.in_([c.target_id for c in claimed])))).all()
    documents = {row.id: span_document(row) for row in rows}
    return {c.id: documents[c.target_id] for c in claimed if c.target_id in documents}


async def _store_span_results(
    session: AsyncSession, dialect: SqlDialect, results: Sequence[UnitResult], now: Any, worker: str
) -> None:
    rows = [evaluation_row(r, now, worker, "span_row_id") for r in results if r.state == units.SUCCEEDED]
    if not rows:
        return
    # One result per (span, evaluation name) in a statement, or the upsert would hit itself.
    latest = {(row["span_row_id"], row["name"]): row for row in rows}
    # One statement with the rows as parameters (executemany): its compiled form is cached,
    # where a multi-row VALUES clause would be compiled again for every batch.
    await session.execute(_span_upsert(dialect), list(latest.values()))


_SPAN_UPSERTS: dict[str, Any] = {}


def _span_upsert(dialect: SqlDialect) -> Any:
    stmt = _SPAN_UPSERTS.get(dialect.name)
    if stmt is None:
        statement = dialect.insert(SpanEvaluation.__table__)
        stmt = _SPAN_UPSERTS[dialect.name] = statement.on_conflict_do_update(
            index_elements=["span_row_id", "name"], set_={name: statement.excluded[name] for name in _RESULT_FIELDS}
        )
    return stmt


# --- traces and sessions -----------------------------------------------------------------


async def _load_groups(
    session: AsyncSession, dialect: SqlDialect, plans: Plans, claimed: Sequence[Claimed]
) -> Documents:
    """Per (task, evaluator): the units' resolved variables and whether the filters admit them."""
    documents: Documents = {}
    by_evaluator: dict[tuple[int, int, str], list[Claimed]] = defaultdict(list)
    for unit in claimed:
        by_evaluator[(unit.task_id, unit.evaluator_key, unit.target_kind)].append(unit)
    for (task_id, evaluator_key, kind), group in by_evaluator.items():
        plan = plans.get(task_id)
        evaluator = plan.evaluator(evaluator_key) if plan else None
        if plan is None or evaluator is None:
            continue
        qf = parse_query_filters(plan.task.query_filters)
        documents.update(await load_documents(session, GROUP_SCOPES[kind], qf, evaluator, group, dialect.name))
    return documents


def _group_store(kind: str) -> Callable[..., Awaitable[None]]:
    scope = GROUP_SCOPES[kind]

    async def store(
        session: AsyncSession, dialect: SqlDialect, results: Sequence[UnitResult], now: Any, worker: str
    ) -> None:
        rows = []
        for result in results:
            if result.state != units.SUCCEEDED:
                continue
            row = evaluation_row(result, now, worker, "target_id")
            del row["target_id"]
            payload = result.unit.payload or {}
            rows.append({**row, "project_id": payload["project_id"], scope.key_name: payload["key"]})
        if rows:
            await record_results(session, scope, dialect, rows)

    return store


# --- experiment runs and dataset examples ------------------------------------------------


async def _load_dataset_targets(
    session: AsyncSession, dialect: SqlDialect, plans: Plans, claimed: Sequence[Claimed]
) -> Documents:
    found = await dataset_documents.load_targets(session, claimed)
    return {c.id: found[(c.target_kind, c.target_id)] for c in claimed if (c.target_kind, c.target_id) in found}


async def _store_run_results(
    session: AsyncSession, dialect: SqlDialect, results: Sequence[UnitResult], now: Any, worker: str
) -> None:
    """Results on experiment runs, one per (run, evaluation name): a redo overwrites."""
    rows = [evaluation_row(r, now, worker, "experiment_run_id") for r in results if r.state == units.SUCCEEDED]
    if not rows:
        return
    latest = {(row["experiment_run_id"], row["name"]): row for row in rows}
    stmt = dialect.insert(ExperimentRunEvaluation.__table__).values(list(latest.values()))
    stmt = stmt.on_conflict_do_update(
        index_elements=["experiment_run_id", "name"], set_={name: stmt.excluded[name] for name in _RESULT_FIELDS}
    )
    await session.execute(stmt)


async def _store_generated_runs(
    session: AsyncSession, dialect: SqlDialect, results: Sequence[UnitResult], now: Any, worker: str
) -> None:
    """Generated experiment runs, in dataset order within the batch (batches land in the order
    they finish); experiments deleted meanwhile get nothing."""
    generated = sorted(
        ((r.unit.target_id, r.run_row) for r in results if isinstance(r, GenerationResult) and r.run_row is not None),
        key=lambda g: g[0],
    )
    rows = [row for _, row in generated]
    if not rows:
        return
    experiment_ids = {row["experiment_id"] for row in rows}
    alive = set((await session.scalars(select(Experiment.id).where(Experiment.id.in_(experiment_ids)))).all())
    values = [
        {**row, "annotations": [], "created_at": now, "updated_at": now}
        for row in rows
        if row["experiment_id"] in alive
    ]
    if values:
        await session.execute(insert(ExperimentRun.__table__), values)  # type: ignore[arg-type]


TARGETS: dict[str, TargetKind] = {
    "SPAN": TargetKind("SPAN", _load_spans, _store_span_results, SPAN_DEFAULTS),
    TRACE: TargetKind(TRACE, _load_groups, _group_store(TRACE), SPAN_DEFAULTS),
    SESSION: TargetKind(SESSION, _load_groups, _group_store(SESSION), SPAN_DEFAULTS),
    EXPERIMENT_RUN: TargetKind(EXPERIMENT_RUN, _load_dataset_targets, _store_run_results, RUN_DEFAULTS),
    EXAMPLE: TargetKind(EXAMPLE, _load_dataset_targets, _store_generated_runs, RUN_DEFAULTS),
}
