"""Roles: the predefined space roles and custom ones."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from evalplane.api import wire
from evalplane.api.deps import Caller, State
from evalplane.api.mappers import identity as mapper
from evalplane.core.errors import InvalidInput
from evalplane.core.ids import Kind, decode_id
from evalplane.domains.access import roles as service
from evalplane.domains.access.roles import UNSET

router = APIRouter(prefix="/v2", tags=["Roles"])


class CreateRole(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=1000)
    permissions: list[str] = Field(min_length=1, max_length=500)


class UpdateRole(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=1000)
    permissions: list[str] | None = Field(default=None, min_length=1, max_length=500)


def _role_id(value: str) -> int:
    return decode_id(Kind.ROLE, value, field="role_id")


@router.get("/roles", summary="List roles")
async def list_roles(
    state: State,
    caller: Caller,
    is_predefined: Annotated[bool | None, Query()] = None,
    limit: Annotated[int, wire.limit_param(100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    async with state.db.session() as session:
        page = await service.list_roles(session, is_predefined, wire.page_request(limit, cursor), state.cursors)
    return wire.JSONResponse({"roles": [mapper.role(r) for r in page.items], "pagination": wire.pagination(page)})


@router.post("/roles", status_code=201, summary="Create a custom role")
async def create_role(body: CreateRole, state: State, caller: Caller) -> wire.JSONResponse:
    permissions = [p.strip().upper() for p in body.permissions]
    async with state.db.session() as session:
        role = await service.create(
            session, caller, name=body.name, description=body.description, permissions=permissions
        )
    return wire.JSONResponse(mapper.role(role), status_code=201)


@router.get("/roles/{role_id}", summary="Get a role")
async def get_role(role_id: str, state: State, caller: Caller) -> wire.JSONResponse:
    async with state.db.session() as session:
        role = await service.get(session, _role_id(role_id))
    return wire.JSONResponse(mapper.role(role))


@router.patch("/roles/{role_id}", summary="Update a custom role")
async def update_role(role_id: str, body: UpdateRole, state: State, caller: Caller) -> wire.JSONResponse:
    fields = body.model_fields_set
    if not fields:
        raise InvalidInput("Send at least one of 'name', 'description' or 'permissions'.")
    for name in ("name", "permissions"):
        if name in fields and getattr(body, name) is None:
            raise InvalidInput(f"'{name}' cannot be null.", field=name)
    permissions = [p.strip().upper() for p in body.permissions] if body.permissions is not None else None
    async with state.db.session() as session:
        role = await service.update(
            session,
            caller,
            _role_id(role_id),
            name=body.name,
            description=body.description if "description" in fields else UNSET,
            permissions=permissions,
        )
    state.principals.clear()
    return wire.JSONResponse(mapper.role(role))


@router.delete("/roles/{role_id}", status_code=204, response_class=Response, summary="Delete a custom role")
async def delete_role(role_id: str, state: State, caller: Caller) -> Response:
    async with state.db.session() as session:
        await service.remove(session, caller, _role_id(role_id))
    return wire.no_content()
