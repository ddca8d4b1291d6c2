"""Tasks and their runs: list, create, read, update, delete, trigger, list runs, read and cancel a run."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query
from starlette.responses import Response

from evalplane.api import wire
from evalplane.api.deps import Caller, State, WireDialect
from evalplane.api.dialect import parse_enum
from evalplane.api.mappers import tasks as mapper
from evalplane.core.ids import Kind, decode_id, maybe_decode_id
from evalplane.domains.task_runs import service as runs
from evalplane.domains.task_runs.transitions import RUN_STATUSES
from evalplane.domains.tasks import service
from evalplane.domains.tasks.service import TASK_TYPES, TaskFilters

router = APIRouter(prefix="/v2", tags=["Tasks"])


def _task_id(value: str) -> int:
    return decode_id(Kind.TASK, value, field="task_id")


def _run_id(value: str) -> int:
    return decode_id(Kind.TASK_RUN, value, field="run_id")


@router.get("/tasks", summary="List tasks")
async def list_tasks(
    state: State,
    caller: Caller,
    dialect: WireDialect,
    space_id: Annotated[str | None, Query()] = None,
    space_name: Annotated[str | None, Query(max_length=255)] = None,
    name: Annotated[str | None, Query(max_length=255)] = None,
    project_id: Annotated[str | None, Query()] = None,
    dataset_id: Annotated[str | None, Query()] = None,
    type: Annotated[str | None, Query()] = None,
    limit: Annotated[int, wire.limit_param(100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    filters = TaskFilters(
        space_id=maybe_decode_id(Kind.SPACE, space_id, field="space_id"),
        space_name=space_name or None,
        name=name or None,
        project_id=maybe_decode_id(Kind.PROJECT, project_id, field="project_id"),
        dataset_id=maybe_decode_id(Kind.DATASET, dataset_id, field="dataset_id"),
        type=parse_enum(type, TASK_TYPES, "type"),
    )
    async with state.db.session() as session:
        page = await service.list_tasks(session, caller, filters, wire.page_request(limit, cursor), state.cursors)
    return wire.JSONResponse(
        {"tasks": [mapper.task(v, dialect) for v in page.items], "pagination": wire.pagination(page)}
    )


@router.post("/tasks", status_code=201, summary="Create a task")
async def create_task(body: mapper.CreateTask, state: State, caller: Caller, dialect: WireDialect) -> wire.JSONResponse:
    new = mapper.new_task(body)
    async with state.db.session() as session:
        view = await service.create_task(session, caller, new)
    return wire.JSONResponse(mapper.task(view, dialect), status_code=201)


@router.get("/tasks/{task_id}", summary="Get a task")
async def get_task(task_id: str, state: State, caller: Caller, dialect: WireDialect) -> wire.JSONResponse:
    async with state.db.session() as session:
        view = await service.get_task(session, caller, _task_id(task_id))
    return wire.JSONResponse(mapper.task(view, dialect))


@router.patch("/tasks/{task_id}", summary="Update a task")
async def update_task(
    task_id: str, body: mapper.UpdateTask, state: State, caller: Caller, dialect: WireDialect
) -> wire.JSONResponse:
    changes = mapper.task_changes(body)
    async with state.db.session() as session:
        view = await service.update_task(session, caller, _task_id(task_id), changes)
    return wire.JSONResponse(mapper.task(view, dialect))


@router.delete("/tasks/{task_id}", status_code=204, response_class=Response, summary="Delete a task")
async def delete_task(task_id: str, state: State, caller: Caller) -> Response:
    async with state.db.session() as session:
        await service.delete_task(session, caller, _task_id(task_id))
    return wire.no_content()


@router.post("/tasks/{task_id}/trigger", status_code=201, summary="Trigger a task run")
async def trigger_task_run(
    task_id: str,
    state: State,
    caller: Caller,
    dialect: WireDialect,
    body: Annotated[mapper.TriggerRun | None, Body()] = None,
) -> wire.JSONResponse:
    request = mapper.run_request(body)
    async with state.db.session() as session:
        run = await runs.trigger(session, caller, _task_id(task_id), request)
    state.wake_engine()
    return wire.JSONResponse(mapper.task_run(run, dialect), status_code=201)


@router.get("/tasks/{task_id}/runs", summary="List a task's runs")
async def list_task_runs(
    task_id: str,
    state: State,
    caller: Caller,
    dialect: WireDialect,
    status: Annotated[str | None, Query()] = None,
    limit: Annotated[int, wire.limit_param(100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    wanted = parse_enum(status, RUN_STATUSES, "status")
    async with state.db.session() as session:
        page = await runs.list_runs(
            session, caller, _task_id(task_id), wanted, wire.page_request(limit, cursor), state.cursors
        )
    return wire.JSONResponse(
        {"task_runs": [mapper.task_run(r, dialect) for r in page.items], "pagination": wire.pagination(page)}
    )


@router.get("/task-runs/{run_id}", summary="Get a task run")
async def get_task_run(run_id: str, state: State, caller: Caller, dialect: WireDialect) -> wire.JSONResponse:
    async with state.db.session() as session:
        run = await runs.get_run(session, caller, _run_id(run_id))
    return wire.JSONResponse(mapper.task_run(run, dialect))


@router.post("/task-runs/{run_id}/cancel", summary="Cancel a task run")
async def cancel_task_run(run_id: str, state: State, caller: Caller, dialect: WireDialect) -> wire.JSONResponse:
    async with state.db.session() as session:
        run = await runs.cancel(session, caller, _run_id(run_id))
    return wire.JSONResponse(mapper.task_run(run, dialect))
