"""Tasks: list, read, create, update and delete, within what the caller may see and change."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.clock import utcnow
from evalplane.core.cursors import CursorCodec
from evalplane.core.errors import InvalidInput, NotFound
from evalplane.db.models import Dataset, Project, Task, TaskEvaluator
from evalplane.db.paging import Page, PageRequest, cursor_position, cut_page
from evalplane.domains import common
from evalplane.domains.access.principal import Principal
from evalplane.domains.tasks import rules, scopes
from evalplane.domains.tasks.inputs import RUN_EXPERIMENT, TASK_TYPES, NewTask, TaskChanges
from evalplane.domains.tasks.repository import PageQuery, TaskView, load_links, load_page_views, load_views

__all__ = ["TASK_TYPES", "TaskFilters", "create_task", "delete_task", "get_task", "list_tasks", "update_task"]


@dataclass(frozen=True, slots=True)
class TaskFilters:
    space_id: int | None = None
    space_name: str | None = None
    name: str | None = None
    project_id: int | None = None
    dataset_id: int | None = None
    type: str | None = None


async def list_tasks(
    session: AsyncSession, principal: Principal, filters: TaskFilters, page: PageRequest, codec: CursorCodec
) -> Page[TaskView]:
    # With only a space filter (how the SDK resolves a task name), whether the space exists
    # is asked of the database only when the page comes back empty: a task in it proves it.
    check_space_later = filters.space_id is not None and filters.project_id is None and filters.dataset_id is None
    if check_space_later:
        principal.require_read(filters.space_id, "Space")  # type: ignore[arg-type]
    elif filters.space_id is not None:
        await common.visible_space(session, filters.space_id, principal)
    if filters.project_id is not None:
        await common.visible_project(session, filters.project_id, principal)
    if filters.dataset_id is not None:
        await common.visible_dataset(session, filters.dataset_id, principal)
    bound = {k: v for k, v in vars_of(filters).items() if v is not None}
    try:
        before_id = cursor_position(page, codec, "tasks", bound)
    except InvalidInput:
        if check_space_later:
            await common.visible_space(session, filters.space_id, principal)  # type: ignore[arg-type]
        raise
    spaces = principal.visible_space_ids()
    query = PageQuery(
        limit=page.limit + 1,
        before_id=before_id,
        space_id=filters.space_id,
        project_id=filters.project_id,
        dataset_id=filters.dataset_id,
        type=filters.type,
        name=filters.name,
        space_name=filters.space_name,
        # Whole visible spaces, plus the tasks of projects bound to the caller directly.
        space_ids=None if spaces is None else sorted(spaces),
        project_ids=[] if spaces is None else sorted(principal.visible_project_ids()),
    )
    views = await load_page_views(session, query)
    if not views and check_space_later:
        await common.visible_space(session, filters.space_id, principal)  # type: ignore[arg-type]
    return cut_page(views, page, _task_id, codec, "tasks", bound)


def _task_id(view: TaskView) -> int:
    return view.task.id


async def visible_task(session: AsyncSession, principal: Principal, task_id: int) -> Task:
    task = await session.get(Task, task_id)
    if task is None:
        raise NotFound("Task was not found.")
    if task.project_id is not None:
        principal.require_project_read(task.project_id, task.space_id, "Task")
    else:
        principal.require_read(task.space_id, "Task")
    return task


async def get_task(session: AsyncSession, principal: Principal, task_id: int) -> TaskView:
    task = await visible_task(session, principal, task_id)
    return (await load_views(session, [task]))[0]


async def create_task(session: AsyncSession, principal: Principal, new: NewTask) -> TaskView:
    if new.type not in TASK_TYPES:
        raise InvalidInput("'type' must be one of: template_evaluation, code_evaluation, run_experiment.", field="type")
    name = rules.clean_name(new.name)
    if new.type == RUN_EXPERIMENT:
        task = await _new_run_experiment_task(session, principal, new, name)
    else:
        task = await _new_evaluation_task(session, principal, new, name)
    await session.flush()
    return (await load_views(session, [task]))[0]


async def _writable_source(
    session: AsyncSession, principal: Principal, project_id: int | None, dataset_id: int | None
) -> int:
    """The space of the task's data source, after checking the caller may write there."""
    source: Project | Dataset
    if project_id is not None:
        source = await common.visible_project(session, project_id, principal)
        principal.require_write(source.space_id, "Project")
    else:
        assert dataset_id is not None
        source = await common.visible_dataset(session, dataset_id, principal)
        principal.require_write(source.space_id, "Dataset")
    return source.space_id


async def _new_evaluation_task(session: AsyncSession, principal: Principal, new: NewTask, name: str) -> Task:
    if new.run_configuration is not None:
        raise InvalidInput("'run_configuration' is only valid for run_experiment tasks.", field="run_configuration")
    if (new.project_id is None) == (new.dataset_id is None):
        raise InvalidInput("An evaluation task needs exactly one of 'project_id' or 'dataset_id'.")
    if new.evaluators is None:
        raise InvalidInput("'evaluators' is required for evaluation tasks.", field="evaluators")
    on_project = new.project_id is not None
    if on_project and new.experiment_ids:
        raise InvalidInput("'experiment_ids' only applies to dataset-based tasks.", field="experiment_ids")
    if not on_project:
        rules.reject_fields(["sampling_rate"] if new.sampling_rate is not None else [], "for dataset-based tasks")
        if new.is_continuous:
            raise InvalidInput("'is_continuous' is only supported on project-based tasks.", field="is_continuous")
    space_id = await _writable_source(session, principal, new.project_id, new.dataset_id)
    query_filters = rules.canonical_query_filters(new.query_filters)
    specs = rules.normalise_specs(new.evaluators)
    rules.check_shapes(new.query_filter, query_filters, specs, on_dataset=not on_project)
    links = await rules.build_evaluator_links(session, principal, new.type, space_id, specs)
    await scopes.check_scopes(session, specs, new.query_filter, query_filters, on_dataset=not on_project)
    experiment_ids: list[int] = []
    if new.dataset_id is not None:
        experiment_ids = await rules.check_experiments(session, principal, new.dataset_id, new.experiment_ids or [])
    await rules.ensure_name_free(session, space_id, name)
    task = Task(
        space_id=space_id,
        name=name,
        type=new.type,
        project_id=new.project_id,
        dataset_id=new.dataset_id,
        sampling_rate=(1.0 if new.sampling_rate is None else new.sampling_rate) if on_project else None,
        is_continuous=bool(new.is_continuous),
        query_filter=new.query_filter,
        query_filters=query_filters,
        experiment_ids=experiment_ids,
        created_by_user_id=principal.user_id,
    )
    session.add(task)
    await session.flush()
    for link in links:
        link.task_id = task.id
        session.add(link)
    return task


async def _new_run_experiment_task(session: AsyncSession, principal: Principal, new: NewTask, name: str) -> Task:
    sent = [
        field
        for field, value in (
            ("project_id", new.project_id),
            ("evaluators", new.evaluators),
            ("experiment_ids", new.experiment_ids),
            ("sampling_rate", new.sampling_rate),
            ("is_continuous", new.is_continuous or None),
            ("query_filter", new.query_filter),
            ("query_filters", new.query_filters),
        )
        if value is not None
    ]
    rules.reject_fields(sent, "for run_experiment tasks (they take 'dataset_id' and 'run_configuration')")
    if new.dataset_id is None:
        raise InvalidInput("'dataset_id' is required for run_experiment tasks.", field="dataset_id")
    space_id = await _writable_source(session, principal, None, new.dataset_id)
    config = await rules.check_run_configuration(session, principal, space_id, new.run_configuration)
    await rules.ensure_name_free(session, space_id, name)
    task = Task(
        space_id=space_id,
        name=name,
        type=RUN_EXPERIMENT,
        dataset_id=new.dataset_id,
        sampling_rate=None,
        is_continuous=False,
        run_configuration=config,
        experiment_ids=[],
        created_by_user_id=principal.user_id,
    )
    session.add(task)
    return task


_EVALUATION_ONLY = ("sampling_rate", "is_continuous", "query_filter", "query_filters", "evaluators")


async def update_task(session: AsyncSession, principal: Principal, task_id: int, changes: TaskChanges) -> TaskView:
    task = await visible_task(session, principal, task_id)
    principal.require_write(task.space_id, "Task")
    if not changes.provided:
        raise InvalidInput("Send at least one field to change.")
    if "name" in changes.provided:
        name = rules.clean_name(changes.name)
        await rules.ensure_name_free(session, task.space_id, name, exclude=task.id)
        task.name = name
    if task.type == RUN_EXPERIMENT:
        rules.reject_fields(
            [f for f in _EVALUATION_ONLY if f in changes.provided],
            "for run_experiment tasks (only 'name' and 'run_configuration')",
        )
        if "run_configuration" in changes.provided:
            task.run_configuration = await rules.check_run_configuration(
                session, principal, task.space_id, changes.run_configuration
            )
    else:
        await _apply_evaluation_changes(session, principal, task, changes)
    # Stamped explicitly: replacing only the evaluators does not touch the task row otherwise.
    task.updated_at = utcnow()
    await session.flush()
    return (await load_views(session, [task]))[0]


async def _apply_evaluation_changes(
    session: AsyncSession, principal: Principal, task: Task, changes: TaskChanges
) -> None:
    provided = changes.provided
    rules.reject_fields(["run_configuration"] if "run_configuration" in provided else [], "for evaluation tasks")
    on_project = task.project_id is not None
    if not on_project:
        if "sampling_rate" in provided and changes.sampling_rate is not None:
            raise InvalidInput("'sampling_rate' is only supported on project-based tasks.", field="sampling_rate")
        if changes.is_continuous:
            raise InvalidInput("'is_continuous' is only supported on project-based tasks.", field="is_continuous")
    for field in ("sampling_rate", "is_continuous"):
        if field in provided and getattr(changes, field) is None and on_project:
            raise InvalidInput(f"'{field}' cannot be null.", field=field)
    if "evaluators" in provided and changes.evaluators is None:
        raise InvalidInput("'evaluators' cannot be null; send the full list to replace it.", field="evaluators")
    if (
        "query_filter" in provided
        and "query_filters" in provided
        and changes.query_filter is not None
        and changes.query_filters is not None
    ):
        raise InvalidInput("'query_filter' and 'query_filters' are mutually exclusive; send one of them.")

    query_filter, query_filters = task.query_filter, task.query_filters
    if "query_filter" in provided:
        query_filter = changes.query_filter
        if query_filter is not None:
            query_filters = None  # switching to the span shape drops the trace/session filters
    if "query_filters" in provided:
        query_filters = rules.canonical_query_filters(changes.query_filters)
        if query_filters is not None:
            query_filter = None
    if "evaluators" in provided:
        specs = rules.normalise_specs(changes.evaluators or [])
    else:
        specs = rules.specs_of(await load_links(session, task.id))
    rules.check_shapes(query_filter, query_filters, specs, on_dataset=not on_project)
    links = None
    if "evaluators" in provided:
        links = await rules.build_evaluator_links(session, principal, task.type, task.space_id, specs)
    if provided & {"evaluators", "query_filter", "query_filters"}:  # a rename keeps what was accepted
        await scopes.check_scopes(session, specs, query_filter, query_filters, on_dataset=not on_project)
    if links is not None:
        await session.execute(delete(TaskEvaluator).where(TaskEvaluator.task_id == task.id))
        for link in links:
            link.task_id = task.id
            session.add(link)
    task.query_filter, task.query_filters = query_filter, query_filters
    if on_project and "sampling_rate" in provided:
        task.sampling_rate = changes.sampling_rate
    if "is_continuous" in provided and changes.is_continuous is not None:
        task.is_continuous = changes.is_continuous


async def delete_task(session: AsyncSession, principal: Principal, task_id: int) -> None:
    """Runs and evaluator links go with the task (foreign keys cascade)."""
    task = await visible_task(session, principal, task_id)
    principal.require_write(task.space_id, "Task")
    await session.execute(delete(Task).where(Task.id == task.id))


def vars_of(filters: TaskFilters) -> dict[str, object]:
    return {name: getattr(filters, name) for name in filters.__slots__}
