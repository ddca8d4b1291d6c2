"""Projects."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from evalplane.api import wire
from evalplane.api.deps import Caller, State
from evalplane.core.clock import isoformat
from evalplane.core.ids import Kind, decode_id, encode_id
from evalplane.db.models import Project
from evalplane.domains.projects import service

router = APIRouter(prefix="/v2", tags=["Projects"])


class CreateProject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    space_id: str


class UpdateProject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)


def to_wire(project: Project) -> dict[str, Any]:
    return {
        "id": encode_id(Kind.PROJECT, project.id),
        "name": project.name,
        "space_id": encode_id(Kind.SPACE, project.space_id),
        "created_at": isoformat(project.created_at),
    }


@router.get("/projects", summary="List projects")
async def list_projects(
    state: State,
    caller: Caller,
    filters: wire.SpaceFilters,
    limit: Annotated[int, wire.limit_param(100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    async with state.db.session() as session:
        page = await service.list_projects(session, caller, filters, wire.page_request(limit, cursor), state.cursors)
    return wire.JSONResponse({"projects": [to_wire(p) for p in page.items], "pagination": wire.pagination(page)})


@router.post("/projects", status_code=201, summary="Create a project")
async def create_project(body: CreateProject, state: State, caller: Caller) -> wire.JSONResponse:
    space_id = decode_id(Kind.SPACE, body.space_id, field="space_id")
    async with state.db.session() as session:
        project = await service.create(session, caller, space_id=space_id, name=body.name)
    return wire.JSONResponse(to_wire(project), status_code=201)


@router.get("/projects/{project_id}", summary="Get a project")
async def get_project(project_id: str, state: State, caller: Caller) -> wire.JSONResponse:
    async with state.db.session() as session:
        project = await service.get(session, caller, decode_id(Kind.PROJECT, project_id, field="project_id"))
    return wire.JSONResponse(to_wire(project))


@router.patch("/projects/{project_id}", summary="Rename a project")
async def update_project(project_id: str, body: UpdateProject, state: State, caller: Caller) -> wire.JSONResponse:
    async with state.db.session() as session:
        project = await service.rename(
            session, caller, decode_id(Kind.PROJECT, project_id, field="project_id"), body.name
        )
    return wire.JSONResponse(to_wire(project))


@router.delete("/projects/{project_id}", status_code=204, response_class=Response, summary="Delete a project")
async def delete_project(project_id: str, state: State, caller: Caller) -> Response:
    async with state.db.session() as session:
        await service.remove(session, caller, decode_id(Kind.PROJECT, project_id, field="project_id"))
    return wire.no_content()
