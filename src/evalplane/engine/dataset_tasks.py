"""Selecting the units of a dataset evaluation run: one per (evaluator, experiment run) over
the runs of the chosen experiments, in the transaction that starts the run.

The run's ``experiment_ids`` (from the trigger, else the task's) name the experiments. The
task's and each evaluator's ``query_filter`` select runs with the filter language over the
run's columns (``output``, ``error``, ``example_id``, extra columns, ``eval.<name>.*``,
``annotation.<name>.*``). ``max_spans`` caps the runs per evaluator. A run already
evaluated by the same evaluator version and mappings is skipped (counted in
``num_skipped``) unless the trigger asked for ``override_evaluations``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.errors import InvalidInput
from evalplane.db.models import Experiment, ExperimentRun, TaskRun
from evalplane.domains.experiments.records import filter_record
from evalplane.engine.dataset_documents import EXPERIMENT_RUN
from evalplane.engine.experiments import RUN_EXPERIMENT
from evalplane.engine.plans import TaskPlan
from evalplane.engine.run_start import CannotStart, Selection, require_evaluators
from evalplane.filters.records import record_predicate
from evalplane.jobs.units import NewUnit

DEFAULT_MAX_RUNS = 10_000
_CHUNK = 1000

Predicate = Callable[[dict[str, Any]], bool]


def _predicate(*filters: str | None) -> Predicate | None:
    texts = [f for f in filters if f and f.strip()]
    if not texts:
        return None
    return record_predicate(*texts, field="query_filter")


async def _chosen_experiments(session: AsyncSession, run: TaskRun, plan: TaskPlan) -> list[int]:
    wanted = list((run.parameters or {}).get("experiment_ids") or plan.task.experiment_ids or [])
    if not wanted:
        return []
    present = set(
        (
            await session.scalars(
                select(Experiment.id).where(Experiment.id.in_(wanted), Experiment.dataset_id == plan.task.dataset_id)
            )
        ).all()
    )
    return [e for e in wanted if e in present]


async def select_runs(
    session: AsyncSession, experiment_ids: list[int], keep: Predicate | None, limit: int
) -> list[int]:
    """Ids of the first ``limit`` runs (oldest first) of the experiments that pass ``keep``."""
    chosen: list[int] = []
    after = 0
    while len(chosen) < limit:
        stmt = (
            select(ExperimentRun)
            .where(ExperimentRun.experiment_id.in_(experiment_ids), ExperimentRun.id > after)
            .order_by(ExperimentRun.id)
            .limit(_CHUNK)
        )
        rows = (await session.scalars(stmt)).all()
        for row in rows:
            if keep is None or keep(filter_record(row)):
                chosen.append(row.id)
                if len(chosen) >= limit:
                    break
        if len(rows) < _CHUNK:
            break
        after = rows[-1].id
    return chosen


def serves(plan: TaskPlan) -> bool:
    return plan.task.project_id is None and plan.task.type != RUN_EXPERIMENT


async def select_units(session: AsyncSession, run: TaskRun, plan: TaskPlan) -> Selection:
    """One unit per (evaluator, chosen experiment run); the run records its experiment when there is one."""
    require_evaluators(plan)
    experiment_ids = await _chosen_experiments(session, run, plan)
    if not experiment_ids:
        raise CannotStart("None of the experiments to evaluate exist any more; trigger with 'experiment_ids'.")
    limit = run.max_spans or DEFAULT_MAX_RUNS
    chosen: list[NewUnit] = []
    for evaluator in plan.evaluators:
        try:
            keep = _predicate(plan.task.query_filter, evaluator.query_filter)
        except InvalidInput as exc:
            raise CannotStart(
                f"The filter of evaluator '{evaluator.name}' cannot select experiment runs: {exc.detail}"
            ) from None
        chosen += [
            NewUnit(
                evaluator_key=evaluator.evaluator_id,
                target_kind=EXPERIMENT_RUN,
                target_id=i,
                fingerprint=evaluator.fingerprint,
            )
            for i in await select_runs(session, experiment_ids, keep, limit)
        ]
    values: dict[str, Any] = {}
    if run.experiment_id is None and len(experiment_ids) == 1:
        values["experiment_id"] = experiment_ids[0]
    return Selection(chosen, values)
