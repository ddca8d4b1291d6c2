"""The kinds of target a work unit can have — a span, a trace, a session, an experiment run,
a dataset example — and, for each, which tasks it serves, how a run's units are selected, how
a batch's documents are loaded and how its results are stored. The planner, the worker and
recording loop over this registry instead of switching on the kind; a new kind of target is
one more entry and the module that implements it: ``span_targets`` (spans),
``scopes.grouped`` (traces, sessions), ``dataset_tasks`` (experiment runs), ``experiments``
(examples).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.db.dialect import SqlDialect, dialect_of
from evalplane.db.models import Experiment, ExperimentRun, ExperimentRunEvaluation, TaskRun
from evalplane.engine import dataset_documents, dataset_tasks, experiments, span_targets
from evalplane.engine.dataset_documents import EXAMPLE, EXPERIMENT_RUN, RUN_DEFAULTS
from evalplane.engine.evaluation_rows import evaluation_row
from evalplane.engine.executor import UnitResult
from evalplane.engine.experiments_generation import GenerationResult
from evalplane.engine.plans import SESSION, SPAN, TRACE, TaskPlan
from evalplane.engine.run_start import CannotStart, Selection, require_one_scope
from evalplane.engine.scopes.admission import parse_query_filters
from evalplane.engine.scopes.feeding import Feed, feed_groups
from evalplane.engine.scopes.grouped import GROUP_SCOPES, load_documents, new_units, record_results, select_keys
from evalplane.engine.variables import SPAN_DEFAULTS
from evalplane.filters import FilterSyntaxError
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
    # Whether a task's runs evaluate this kind (exactly one kind serves a runnable task).
    serves: Callable[[TaskPlan], bool]
    # A starting run's units (raises CannotStart with the reason the user reads).
    select: Callable[[AsyncSession, TaskRun, TaskPlan], Awaitable[Selection]]
    # Continuous mode: queue what newly stored spans call for; None where a kind has no such mode.
    feed: Feed | None = None


# --- traces and sessions -----------------------------------------------------------------


def _serves_groups(kind: str) -> Callable[[TaskPlan], bool]:
    return lambda plan: plan.task.project_id is not None and plan.scope == kind


def _select_groups(kind: str) -> Callable[[AsyncSession, TaskRun, TaskPlan], Awaitable[Selection]]:
    scope = GROUP_SCOPES[kind]

    async def select_units(session: AsyncSession, run: TaskRun, plan: TaskPlan) -> Selection:
        """Per evaluator, the ``max_spans`` most recently active traces/sessions of the window
        that the task's filters admit and the sample keeps."""
        require_one_scope(plan)
        task, limit = plan.task, run.max_spans or span_targets.DEFAULT_MAX_SPANS
        assert task.project_id is not None
        try:
            qf = parse_query_filters(task.query_filters)
            keys = await select_keys(session, scope, task, qf, run, dialect_of(session).name, limit)
        except FilterSyntaxError as exc:
            raise CannotStart(f"The task's filter is no longer valid: {exc.detail}") from None
        # Every evaluator of the task sees the same units: selection does not depend on it.
        return Selection([u for e in plan.evaluators for u in new_units(scope, e, task.project_id, keys)])

    return select_units


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
    SPAN: TargetKind(
        SPAN,
        span_targets.load,
        span_targets.store,
        SPAN_DEFAULTS,
        span_targets.serves,
        span_targets.select_units,
        span_targets.feed,
    ),
    TRACE: TargetKind(
        TRACE,
        _load_groups,
        _group_store(TRACE),
        SPAN_DEFAULTS,
        _serves_groups(TRACE),
        _select_groups(TRACE),
        feed_groups(TRACE),
    ),
    SESSION: TargetKind(
        SESSION,
        _load_groups,
        _group_store(SESSION),
        SPAN_DEFAULTS,
        _serves_groups(SESSION),
        _select_groups(SESSION),
        feed_groups(SESSION),
    ),
    EXPERIMENT_RUN: TargetKind(
        EXPERIMENT_RUN,
        _load_dataset_targets,
        _store_run_results,
        RUN_DEFAULTS,
        dataset_tasks.serves,
        dataset_tasks.select_units,
    ),
    EXAMPLE: TargetKind(
        EXAMPLE,
        _load_dataset_targets,
        _store_generated_runs,
        RUN_DEFAULTS,
        experiments.serves,
        experiments.select_units,
    ),
}


def serving(plan: TaskPlan) -> TargetKind | None:
    """The kind of target a task's runs evaluate; None when its evaluators' scope is unknown."""
    return next((kind for kind in TARGETS.values() if kind.serves(plan)), None)
