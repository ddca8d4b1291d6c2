"""Spaces and their members."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from evalplane.api import wire
from evalplane.api.deps import Caller, State
from evalplane.api.mappers import identity as mapper
from evalplane.core.clock import isoformat
from evalplane.core.errors import InvalidInput
from evalplane.core.ids import Kind, decode_id, encode_id, maybe_decode_id
from evalplane.db.models import Space
from evalplane.domains.spaces import service
from evalplane.domains.spaces.service import UNSET, SpaceFilters

router = APIRouter(prefix="/v2", tags=["Spaces"])


class CreateSpace(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    organization_id: str
    description: str | None = Field(default=None, max_length=1000)
    is_private: bool | None = None


class UpdateSpace(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=1000)
    is_private: bool | None = None


class AddSpaceUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str
    role: mapper.RoleAssignment


def to_wire(space: Space) -> dict[str, Any]:
    return {
        "id": encode_id(Kind.SPACE, space.id),
        "organization_id": encode_id(Kind.ORGANIZATION, space.organization_id),
        "name": space.name,
        "description": space.description,
        "created_at": isoformat(space.created_at),
        "is_private": space.is_private,
    }


def _space_id(value: str) -> int:
    return decode_id(Kind.SPACE, value, field="space_id")


@router.get("/spaces", summary="List spaces")
async def list_spaces(
    state: State,
    caller: Caller,
    org_id: Annotated[str | None, Query()] = None,
    name: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, wire.limit_param(100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    filters = SpaceFilters(
        organization_id=maybe_decode_id(Kind.ORGANIZATION, org_id, field="org_id"), name=name or None
    )
    async with state.db.session() as session:
        page = await service.list_spaces(session, caller, filters, wire.page_request(limit, cursor), state.cursors)
    return wire.JSONResponse({"spaces": [to_wire(s) for s in page.items], "pagination": wire.pagination(page)})


@router.post("/spaces", status_code=201, summary="Create a space")
async def create_space(body: CreateSpace, state: State, caller: Caller) -> wire.JSONResponse:
    org_id = decode_id(Kind.ORGANIZATION, body.organization_id, field="organization_id")
    async with state.db.session() as session:
        space = await service.create(
            session,
            caller,
            organization_id=org_id,
            name=body.name,
            description=body.description,
            is_private=bool(body.is_private),
        )
    state.principals.clear()
    return wire.JSONResponse(to_wire(space), status_code=201)


@router.get("/spaces/{space_id}", summary="Get a space")
async def get_space(space_id: str, state: State, caller: Caller) -> wire.JSONResponse:
    async with state.db.session() as session:
        space = await service.get(session, caller, _space_id(space_id))
    return wire.JSONResponse(to_wire(space))


@router.patch("/spaces/{space_id}", summary="Update a space")
async def update_space(space_id: str, body: UpdateSpace, state: State, caller: Caller) -> wire.JSONResponse:
    fields = body.model_fields_set
    if not fields:
        raise InvalidInput("Send at least one of 'name', 'description' or 'is_private'.")
    if "name" in fields and body.name is None:
        raise InvalidInput("'name' cannot be null.", field="name")
    async with state.db.session() as session:
        space = await service.update(
            session,
            caller,
            _space_id(space_id),
            name=body.name,
            description=body.description if "description" in fields else UNSET,
            is_private=body.is_private,
        )
    return wire.JSONResponse(to_wire(space))


@router.delete("/spaces/{space_id}", status_code=204, response_class=Response, summary="Delete a space")
async def delete_space(space_id: str, state: State, caller: Caller) -> Response:
    async with state.db.session() as session:
        await service.remove(session, caller, _space_id(space_id))
    state.principals.clear()
    return wire.no_content()


@router.post("/spaces/{space_id}/users", summary="Add a user to a space or change their role there")
async def add_space_user(space_id: str, body: AddSpaceUser, state: State, caller: Caller) -> wire.JSONResponse:
    user_id = decode_id(Kind.USER, body.user_id, field="user_id")
    kind = body.role.kind("role")
    async with state.db.session() as session:
        binding, held = await service.add_user(
            session,
            caller,
            _space_id(space_id),
            user_id=user_id,
            role_kind=kind,
            role_name=body.role.name,
            role_id=body.role.role_id("role"),
        )
    state.principals.clear()
    return wire.JSONResponse(mapper.space_membership(binding, held))


@router.delete(
    "/spaces/{space_id}/users/{user_id}", status_code=204, response_class=Response, summary="Remove a user from a space"
)
async def remove_space_user(space_id: str, user_id: str, state: State, caller: Caller) -> Response:
    async with state.db.session() as session:
        await service.remove_user(session, caller, _space_id(space_id), decode_id(Kind.USER, user_id, field="user_id"))
    state.principals.clear()
    return wire.no_content()
