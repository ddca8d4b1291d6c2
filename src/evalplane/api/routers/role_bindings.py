"""Role bindings on spaces and projects."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from evalplane.api import wire
from evalplane.api.deps import Caller, State
from evalplane.api.dialect import parse_enum
from evalplane.api.mappers import identity as mapper
from evalplane.core.ids import Kind, decode_id, maybe_decode_id
from evalplane.domains.access import bindings as service
from evalplane.domains.access.bindings import RESOURCE_TYPES, BindingFilters

router = APIRouter(prefix="/v2", tags=["Role Bindings"])


class CreateRoleBinding(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role_id: str
    user_id: str
    resource_type: str
    resource_id: str


class UpdateRoleBinding(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role_id: str


def _binding_id(value: str) -> int:
    return decode_id(Kind.ROLE_BINDING, value, field="binding_id")


@router.get("/role-bindings", summary="List role bindings")
async def list_role_bindings(
    state: State,
    caller: Caller,
    resource_type: Annotated[str | None, Query()] = None,
    user_id: Annotated[str | None, Query()] = None,
    limit: Annotated[int, wire.limit_param(100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    filters = BindingFilters(
        resource_type=parse_enum(resource_type, RESOURCE_TYPES, "resource_type"),
        user_id=maybe_decode_id(Kind.USER, user_id, field="user_id"),
    )
    async with state.db.session() as session:
        page = await service.list_bindings(session, caller, filters, wire.page_request(limit, cursor), state.cursors)
    return wire.JSONResponse(
        {"role_bindings": [mapper.role_binding(b) for b in page.items], "pagination": wire.pagination(page)}
    )


@router.post("/role-bindings", status_code=201, summary="Create a role binding")
async def create_role_binding(body: CreateRoleBinding, state: State, caller: Caller) -> wire.JSONResponse:
    resource_type = parse_enum(body.resource_type, RESOURCE_TYPES, "resource_type")
    assert resource_type is not None
    resource_id = decode_id(mapper.RESOURCE_KINDS[resource_type], body.resource_id, field="resource_id")
    async with state.db.session() as session:
        binding = await service.create(
            session,
            caller,
            user_id=decode_id(Kind.USER, body.user_id, field="user_id"),
            role_id=decode_id(Kind.ROLE, body.role_id, field="role_id"),
            resource_type=resource_type,
            resource_id=resource_id,
        )
    state.principals.clear()
    return wire.JSONResponse(mapper.role_binding(binding), status_code=201)


@router.get("/role-bindings/{binding_id}", summary="Get a role binding")
async def get_role_binding(binding_id: str, state: State, caller: Caller) -> wire.JSONResponse:
    async with state.db.session() as session:
        binding = await service.get(session, caller, _binding_id(binding_id))
    return wire.JSONResponse(mapper.role_binding(binding))


@router.patch("/role-bindings/{binding_id}", summary="Change the role of a binding")
async def update_role_binding(
    binding_id: str, body: UpdateRoleBinding, state: State, caller: Caller
) -> wire.JSONResponse:
    role_id = decode_id(Kind.ROLE, body.role_id, field="role_id")
    async with state.db.session() as session:
        binding = await service.update(session, caller, _binding_id(binding_id), role_id)
    state.principals.clear()
    return wire.JSONResponse(mapper.role_binding(binding))


@router.delete("/role-bindings/{binding_id}", status_code=204, response_class=Response, summary="Delete a role binding")
async def delete_role_binding(binding_id: str, state: State, caller: Caller) -> Response:
    async with state.db.session() as session:
        await service.remove(session, caller, _binding_id(binding_id))
    state.principals.clear()
    return wire.no_content()
