"""Tasks: list, read (and, as they land, create, update, delete, trigger and runs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from evalplane.api import wire
from evalplane.api.deps import Caller, State, WireDialect
from evalplane.api.dialect import parse_enum
from evalplane.api.mappers import tasks as mapper
from evalplane.core.ids import Kind, decode_id, maybe_decode_id
from evalplane.domains.tasks import service
from evalplane.domains.tasks.service import TASK_TYPES, TaskFilters

router = APIRouter(prefix="/v2", tags=["Tasks"])


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


@router.get("/tasks/{task_id}", summary="Get a task")
async def get_task(task_id: str, state: State, caller: Caller, dialect: WireDialect) -> wire.JSONResponse:
    async with state.db.session() as session:
        view = await service.get_task(session, caller, decode_id(Kind.TASK, task_id, field="task_id"))
    return wire.JSONResponse(mapper.task(view, dialect))
