"""Organizations."""

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
from evalplane.domains.organizations import members, service
from evalplane.domains.organizations.service import UNSET, OrganizationFilters

router = APIRouter(prefix="/v2", tags=["Organizations"])


class CreateOrganization(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=1000)


class UpdateOrganization(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=1000)


class AddOrganizationUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str
    role: mapper.RoleAssignment


def _org_id(value: str) -> int:
    return decode_id(Kind.ORGANIZATION, value, field="org_id")


@router.get("/organizations", summary="List organizations")
async def list_organizations(
    state: State,
    caller: Caller,
    name: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, wire.limit_param(100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    filters = OrganizationFilters(name=name or None)
    async with state.db.session() as session:
        page = await service.list_organizations(
            session, caller, filters, wire.page_request(limit, cursor), state.cursors
        )
    return wire.JSONResponse(
        {"organizations": [mapper.organization(o) for o in page.items], "pagination": wire.pagination(page)}
    )


@router.post("/organizations", status_code=201, summary="Create an organization")
async def create_organization(body: CreateOrganization, state: State, caller: Caller) -> wire.JSONResponse:
    async with state.db.session() as session:
        org = await service.create(session, caller, name=body.name, description=body.description)
    return wire.JSONResponse(mapper.organization(org), status_code=201)


@router.get("/organizations/{org_id}", summary="Get an organization")
async def get_organization(org_id: str, state: State, caller: Caller) -> wire.JSONResponse:
    async with state.db.session() as session:
        org = await service.get(session, caller, _org_id(org_id))
    return wire.JSONResponse(mapper.organization(org))


@router.patch("/organizations/{org_id}", summary="Update an organization")
async def update_organization(org_id: str, body: UpdateOrganization, state: State, caller: Caller) -> wire.JSONResponse:
    if not body.model_fields_set:
        raise InvalidInput("Send at least one of 'name' or 'description'.")
    if "name" in body.model_fields_set and body.name is None:
        raise InvalidInput("'name' cannot be null.", field="name")
    description = body.description if "description" in body.model_fields_set else UNSET
    async with state.db.session() as session:
        org = await service.update(session, caller, _org_id(org_id), name=body.name, description=description)
    return wire.JSONResponse(mapper.organization(org))


@router.delete("/organizations/{org_id}", status_code=204, response_class=Response, summary="Delete an organization")
async def delete_organization(org_id: str, state: State, caller: Caller) -> Response:
    async with state.db.session() as session:
        await service.remove(session, caller, _org_id(org_id))
    state.principals.clear()
    return wire.no_content()


@router.post("/organizations/{org_id}/users", summary="Add a user to an organization or change their role there")
async def add_organization_user(
    org_id: str, body: AddOrganizationUser, state: State, caller: Caller
) -> wire.JSONResponse:
    user_id = decode_id(Kind.USER, body.user_id, field="user_id")
    kind = body.role.kind("role")
    async with state.db.session() as session:
        binding, held = await members.add_user(
            session, caller, _org_id(org_id), user_id=user_id, role_kind=kind, role_name=body.role.name
        )
    state.principals.clear()
    return wire.JSONResponse(mapper.organization_membership(binding, held))


@router.delete(
    "/organizations/{org_id}/users/{user_id}",
    status_code=204,
    response_class=Response,
    summary="Remove a user from an organization and its spaces",
)
async def remove_organization_user(org_id: str, user_id: str, state: State, caller: Caller) -> Response:
    async with state.db.session() as session:
        await members.remove_user(session, caller, _org_id(org_id), decode_id(Kind.USER, user_id, field="user_id"))
    state.principals.clear()
    return wire.no_content()
