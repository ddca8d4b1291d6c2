"""Task runs: trigger, list, read and cancel. Runs are recorded here; the engine executes them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.clock import as_utc, utcnow
from evalplane.core.cursors import CursorCodec
from evalplane.core.errors import Conflict, InvalidInput, NotFound, Unprocessable
from evalplane.db.models import DatasetExample, DatasetVersion, Experiment, Task, TaskRun
from evalplane.db.paging import Page, PageRequest, paginate
from evalplane.domains.access.principal import Principal
from evalplane.domains.task_runs.creation import create_run
from evalplane.domains.task_runs.transitions import ACTIVE, CANCELLED, transition
from evalplane.domains.tasks import rules
from evalplane.domains.tasks.inputs import EVALUATION_TYPES, RUN_EXPERIMENT, RunRequest
from evalplane.domains.tasks.service import visible_task
from evalplane.filters.records import check_record_filter
from evalplane.jobs import units

MAX_WINDOW = timedelta(days=30)
# A trigger that names no start: a first run looks back this far (as span lists do by default).
FIRST_RUN_LOOKBACK = timedelta(days=7)
DEFAULT_MAX_SPANS = 10_000
ACTIVE_RUN_CONFLICT = "This task already has a pending or running run; wait for it to finish or cancel it first."


async def trigger(session: AsyncSession, principal: Principal, task_id: int, request: RunRequest) -> TaskRun:
    task = await visible_task(session, principal, task_id)
    principal.require_write(task.space_id, "Task")
    if task.type == RUN_EXPERIMENT:
        fields = await _experiment_run(session, principal, task, request)
    else:
        fields = await _evaluation_run(session, principal, task, request)
    active = await session.scalar(
        select(TaskRun.id).where(
            TaskRun.task_id == task.id, TaskRun.kind == "BACKFILL", TaskRun.status.in_(sorted(ACTIVE))
        )
    )
    if active is not None:
        raise Conflict(ACTIVE_RUN_CONFLICT)
    try:
        run = await create_run(session, task.id, created_by_user_id=principal.user_id, **fields)
    except IntegrityError as exc:
        # Lost a race with a concurrent trigger: the partial unique index uq_task_runs_one_active said no.
        raise Conflict(
            ACTIVE_RUN_CONFLICT if _is_unique_violation(exc) else "The task changed meanwhile; try again."
        ) from None
    await session.flush()
    return run


def _is_unique_violation(exc: IntegrityError) -> bool:
    text = str(exc.orig).lower()
    return "unique" in text or "uq_task_runs_one_active" in text


async def _evaluation_run(
    session: AsyncSession, principal: Principal, task: Task, request: RunRequest
) -> dict[str, Any]:
    rules.reject_fields(request.sent(RunRequest.EXPERIMENT_FIELDS), f"when triggering a {task.type.lower()} task")
    if request.max_spans is not None and request.max_spans < 1:
        raise InvalidInput("'max_spans' must be at least 1.", field="max_spans")
    parameters: dict[str, Any] = {}
    start = end = None
    if task.project_id is not None:
        if request.experiment_ids is not None:
            raise InvalidInput("'experiment_ids' only applies to dataset-based tasks.", field="experiment_ids")
        start, end = await _window(session, task, request)
    else:
        rules.reject_fields(
            request.sent(("data_start_time", "data_end_time")), "for dataset-based tasks (they evaluate experiments)"
        )
        assert task.dataset_id is not None
        chosen = request.experiment_ids if request.experiment_ids is not None else list(task.experiment_ids or [])
        parameters["experiment_ids"] = await rules.check_experiments(session, principal, task.dataset_id, chosen)
    return {
        "data_start_time": start,
        "data_end_time": end,
        "max_spans": request.max_spans or DEFAULT_MAX_SPANS,
        "override_evaluations": bool(request.override_evaluations),
        "parameters": parameters,
    }


async def _window(session: AsyncSession, task: Task, request: RunRequest) -> tuple[datetime, datetime]:
    """The span window: ends now unless given. Without a start it continues where the previous
    run's window ended (at most 30 days back); a task's first run covers the last 7 days."""
    end = as_utc(request.data_end_time) if request.data_end_time is not None else utcnow()
    start: datetime | None
    if request.data_start_time is not None:
        start = as_utc(request.data_start_time)
    else:
        previous = await session.scalar(
            select(TaskRun.data_end_time).where(TaskRun.task_id == task.id).order_by(TaskRun.id.desc()).limit(1)
        )
        start = previous or task.last_run_at
        start = end - FIRST_RUN_LOOKBACK if start is None else max(as_utc(start), end - MAX_WINDOW)
        if start >= end:
            raise InvalidInput(
                "The previous run already covered everything up to 'data_end_time'; send 'data_start_time'.",
                field="data_start_time",
            )
    if start >= end:
        raise InvalidInput("'data_start_time' must be before 'data_end_time'.", field="data_start_time")
    if end - start > MAX_WINDOW:
        raise InvalidInput("The data window may span at most 30 days.", field="data_start_time")
    return start, end


async def _experiment_run(
    session: AsyncSession, principal: Principal, task: Task, request: RunRequest
) -> dict[str, Any]:
    rules.reject_fields(request.sent(RunRequest.EVALUATION_FIELDS), "when triggering a run_experiment task")
    assert task.dataset_id is not None
    name = _experiment_name(request.experiment_name)
    taken = await session.scalar(
        select(Experiment.id).where(Experiment.dataset_id == task.dataset_id, Experiment.name == name)
    )
    if taken is not None:
        raise Conflict(f"The dataset already has an experiment named '{name}'.")
    if request.example_ids is not None and request.max_examples is not None:
        raise InvalidInput("'example_ids' and 'max_examples' are mutually exclusive; send at most one.")
    if request.max_examples is not None and request.max_examples < 1:
        raise InvalidInput("'max_examples' must be at least 1.", field="max_examples")
    # Example filters name the dataset's own columns: the filter language over records.
    check_record_filter(request.query_filter, field="query_filter")
    parameters: dict[str, Any] = {"experiment_name": name}
    if request.dataset_version_id is not None:
        version = await session.get(DatasetVersion, request.dataset_version_id)
        if version is None:
            raise NotFound("The dataset version in 'dataset_version_id' was not found.")
        if version.dataset_id != task.dataset_id:
            raise Unprocessable("'dataset_version_id' is a version of another dataset.")
        parameters["dataset_version_id"] = version.id
    if request.example_ids is not None:
        parameters["example_ids"] = await _check_examples(session, task.dataset_id, request.example_ids)
    if request.max_examples is not None:
        parameters["max_examples"] = request.max_examples
    if request.query_filter is not None:
        parameters["query_filter"] = request.query_filter
    if request.tracing_metadata is not None:
        parameters["tracing_metadata"] = request.tracing_metadata
    if request.evaluation_task_ids is not None:
        parameters["evaluation_task_ids"] = await _check_follow_up_tasks(
            session, principal, task, request.evaluation_task_ids
        )
    return {"override_evaluations": False, "parameters": parameters}


def _experiment_name(value: str | None) -> str:
    if value is None:
        raise InvalidInput(
            "'experiment_name' is required when triggering a run_experiment task.", field="experiment_name"
        )
    name = rules.clean_name(value, "experiment_name")
    if '"' in name or "\\" in name:
        raise InvalidInput("'experiment_name' must not contain double quotes or backslashes.", field="experiment_name")
    return name


async def _check_examples(session: AsyncSession, dataset_id: int, example_ids: list[int]) -> list[int]:
    wanted = list(dict.fromkeys(example_ids))
    if not wanted:
        raise InvalidInput("'example_ids' must list at least one example.", field="example_ids")
    found = set(
        (
            await session.scalars(
                select(DatasetExample.example_id)
                .where(DatasetExample.dataset_id == dataset_id, DatasetExample.example_id.in_(wanted))
                .distinct()
            )
        ).all()
    )
    missing = [e for e in wanted if e not in found]
    if missing:
        raise Unprocessable(f"{len(missing)} of the 'example_ids' are not examples of the task's dataset.")
    return wanted


async def _check_follow_up_tasks(session: AsyncSession, principal: Principal, task: Task, ids: list[int]) -> list[int]:
    wanted = list(dict.fromkeys(ids))
    rows = {t.id: t for t in (await session.scalars(select(Task).where(Task.id.in_(wanted)))).all()}
    for task_id in wanted:
        other = rows.get(task_id)
        if other is None or not principal.can_see(other.space_id):
            raise NotFound("A task in 'evaluation_task_ids' was not found.")
        if other.type not in EVALUATION_TYPES or other.dataset_id != task.dataset_id:
            raise Unprocessable(
                f"Task '{other.name}' in 'evaluation_task_ids' is not an evaluation task on this task's dataset."
            )
    return wanted


async def list_runs(
    session: AsyncSession,
    principal: Principal,
    task_id: int,
    status: str | None,
    page: PageRequest,
    codec: CursorCodec,
) -> Page[TaskRun]:
    task = await visible_task(session, principal, task_id)
    stmt = select(TaskRun).where(TaskRun.task_id == task.id)
    if status is not None:
        stmt = stmt.where(TaskRun.status == status)
    filters: dict[str, Any] = {"task_id": task.id}
    if status is not None:
        filters["status"] = status
    return await paginate(session, stmt, TaskRun.id, page, codec=codec, scope="task_runs", filters=filters)


async def visible_run(session: AsyncSession, principal: Principal, run_id: int) -> tuple[TaskRun, Task]:
    run = await session.get(TaskRun, run_id)
    task = None if run is None else await session.get(Task, run.task_id)
    if run is None or task is None or not principal.can_see(task.space_id):
        raise NotFound("Task run was not found.")
    return run, task


async def get_run(session: AsyncSession, principal: Principal, run_id: int) -> TaskRun:
    return (await visible_run(session, principal, run_id))[0]


async def cancel(session: AsyncSession, principal: Principal, run_id: int) -> TaskRun:
    run, task = await visible_run(session, principal, run_id)
    principal.require_write(task.space_id, "Task run")
    # Compare-and-set; if the engine moved the run meanwhile, look again and retry once per move.
    for _ in range(3):
        if run.status not in ACTIVE:
            raise Conflict(f"The run is already {run.status.lower()}; only pending or running runs can be cancelled.")
        if await transition(session, run.id, run.status, CANCELLED, failure_reason="Cancelled on request."):
            await units.cancel_run(session, run.id)  # stop handing out the run's work
            break
        await session.refresh(run)
    else:
        raise Conflict("The run kept changing state; try again.")
    await session.refresh(run)
    return run
