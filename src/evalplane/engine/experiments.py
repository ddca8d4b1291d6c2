"""Starting and finishing a run_experiment run (its targets are dataset examples).

Starting (in the transaction that moves the run to RUNNING): create the experiment named by
the trigger on the chosen dataset version, record it as the run's ``experiment_id``, and
enqueue one generation unit per chosen example. Examples are taken in dataset order from
the version (the trigger's ``dataset_version_id``, else the newest), narrowed to
``example_ids`` when given, to those whose columns pass ``query_filter`` (the filter language
over records, checked when triggered), and cut at ``max_examples``.

Finishing (when no unit is left): trigger each of the run's ``evaluation_task_ids`` on the
new experiment. A follow-up task that is busy with a run of its own is retried on later
ticks, and the run completes once every follow-up has started.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.errors import InvalidInput
from evalplane.db.models import (
    DatasetExample,
    DatasetVersion,
    DatasetVersionExample,
    Experiment,
    Task,
    TaskRun,
)
from evalplane.domains.datasets.records import example_record
from evalplane.domains.task_runs.creation import create_run
from evalplane.domains.task_runs.transitions import ACTIVE, RUNNING
from evalplane.engine.dataset_documents import EXAMPLE
from evalplane.engine.plans import TaskPlan
from evalplane.engine.run_start import CannotStart, Selection
from evalplane.filters.records import record_search
from evalplane.jobs.units import NewUnit, fingerprint

RUN_EXPERIMENT = "RUN_EXPERIMENT"
RUNNABLE_TYPES = ("LLM_GENERATION", "TEMPLATE_EVALUATION")
# Generation units have no evaluator; their key is 0 (see WorkUnit.evaluator_key).
GENERATION_KEY = 0
_CHUNK = 1000

Predicate = Callable[[dict[str, Any]], bool]


async def _version(session: AsyncSession, task: Task, version_id: int | None) -> DatasetVersion | None:
    if version_id is not None:
        version = await session.get(DatasetVersion, version_id)
        return version if version is not None and version.dataset_id == task.dataset_id else None
    return await session.scalar(
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id == task.dataset_id)
        .order_by(DatasetVersion.id.desc())
        .limit(1)
    )


async def choose_examples(
    session: AsyncSession,
    version_id: int,
    example_ids: list[int] | None,
    keep: Predicate | None,
    max_examples: int | None,
) -> list[int]:
    """Stable ids of the version's examples to run, in dataset order."""
    chosen: list[int] = []
    after = 0
    while max_examples is None or len(chosen) < max_examples:
        stmt = (
            select(DatasetExample)
            .join(DatasetVersionExample, DatasetVersionExample.example_row_id == DatasetExample.id)
            .where(DatasetVersionExample.version_id == version_id, DatasetVersionExample.example_id > after)
            .order_by(DatasetVersionExample.example_id)
            .limit(_CHUNK)
        )
        if example_ids is not None:
            stmt = stmt.where(DatasetVersionExample.example_id.in_(example_ids))
        rows = (await session.scalars(stmt)).all()
        for row in rows:
            if keep is None or keep(example_record(row)):
                chosen.append(row.example_id)
                if max_examples is not None and len(chosen) >= max_examples:
                    break
        if len(rows) < _CHUNK:
            break
        after = rows[-1].example_id
    return chosen


async def _create_experiment(
    session: AsyncSession, run: TaskRun, task: Task, version: DatasetVersion, name: str
) -> Experiment | None:
    """The run's experiment; None when the name was taken after the trigger checked it."""
    taken = await session.scalar(
        select(Experiment.id).where(Experiment.dataset_id == task.dataset_id, Experiment.name == name)
    )
    if taken is not None:
        return None
    experiment = Experiment(
        space_id=task.space_id,
        dataset_id=task.dataset_id,
        dataset_version_id=version.id,
        name=name,
        created_by_user_id=run.created_by_user_id,
    )
    try:
        async with session.begin_nested():
            session.add(experiment)
            await session.flush()
    except IntegrityError:
        return None  # a concurrent writer won the (dataset, name) unique key
    return experiment


def serves(plan: TaskPlan) -> bool:
    return plan.task.project_id is None and plan.task.type == RUN_EXPERIMENT


async def select_units(session: AsyncSession, run: TaskRun, plan: TaskPlan) -> Selection:
    """Create the run's experiment and one generation unit per chosen example; the run records
    the experiment as it starts."""
    task = plan.task
    params = dict(run.parameters or {})
    config = task.run_configuration or {}
    if config.get("experiment_type") not in RUNNABLE_TYPES:
        kind = str(config.get("experiment_type") or "missing").lower()
        raise CannotStart(f"Run configurations of experiment_type '{kind}' cannot be executed by this server.")
    version = await _version(session, task, params.get("dataset_version_id"))
    if version is None:
        raise CannotStart("The dataset version to run on no longer exists.")
    keep = None
    if params.get("query_filter") and str(params["query_filter"]).strip():
        try:
            keep = record_search(str(params["query_filter"]))
        except InvalidInput as exc:
            raise CannotStart(f"The run's query_filter is not valid: {exc.detail}") from None
    examples = await choose_examples(session, version.id, params.get("example_ids"), keep, params.get("max_examples"))
    name = str(params.get("experiment_name") or f"run {run.id}")
    experiment = await _create_experiment(session, run, task, version, name)
    if experiment is None:
        raise CannotStart(f"The dataset already has an experiment named '{name}'; trigger again with another name.")
    payload = {"experiment_id": experiment.id, "version_id": version.id}
    # One unit per example of this run: the run id in the fingerprint keeps earlier runs' units apart.
    key = fingerprint({"task_run": run.id})
    chosen = [
        NewUnit(evaluator_key=GENERATION_KEY, target_kind=EXAMPLE, target_id=e, fingerprint=key, payload=payload)
        for e in examples
    ]
    return Selection(chosen, {"experiment_id": experiment.id})


async def start_follow_ups(session: AsyncSession, run_id: int) -> bool:
    """Trigger a drained run_experiment run's evaluation tasks on its experiment; True when
    nothing is left to start (always True for other runs)."""
    run = await session.get(TaskRun, run_id)
    if run is None or run.status != RUNNING or run.experiment_id is None:
        return True
    params = dict(run.parameters or {})
    wanted = [int(t) for t in params.get("evaluation_task_ids") or []]
    if not wanted:
        return True
    started: dict[str, Any] = dict(params.get("follow_up_runs") or {})
    waiting = False
    for task_id in wanted:
        if str(task_id) in started:
            continue
        task = await session.get(Task, task_id)
        if task is None:
            started[str(task_id)] = None  # deleted meanwhile: nothing to run
            continue
        new = await _trigger_follow_up(session, task, run)
        if new is None:
            waiting = True
        else:
            started[str(task_id)] = new
    if started != params.get("follow_up_runs"):
        run.parameters = {**params, "follow_up_runs": started}
        await session.flush()
    return not waiting


async def _trigger_follow_up(session: AsyncSession, task: Task, parent: TaskRun) -> int | None:
    """A PENDING run of ``task`` over the parent's experiment; None while the task is busy."""
    busy = await session.scalar(
        select(TaskRun.id).where(
            TaskRun.task_id == task.id, TaskRun.kind == "BACKFILL", TaskRun.status.in_(sorted(ACTIVE))
        )
    )
    if busy is not None:
        return None
    try:
        async with session.begin_nested():
            follow_up = await create_run(
                session,
                task.id,
                created_by_user_id=parent.created_by_user_id,
                experiment_id=parent.experiment_id,
                max_spans=None,
                override_evaluations=False,
                parameters={"experiment_ids": [parent.experiment_id]},
            )
    except IntegrityError:
        return None  # a trigger through the API won the race; try again next tick
    return follow_up.id
