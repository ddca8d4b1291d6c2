"""Users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from evalplane.api import wire
from evalplane.api.deps import Caller, State
from evalplane.api.dialect import parse_enum
from evalplane.api.mappers import identity as mapper
from evalplane.core.errors import InvalidInput, Unprocessable
from evalplane.core.ids import Kind, decode_id
from evalplane.domains.users import service
from evalplane.domains.users.service import USER_STATUSES, UserFilters

router = APIRouter(prefix="/v2", tags=["Users"])


class CreateUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    email: str = Field(min_length=3, max_length=320)
    role: mapper.RoleAssignment
    invite_mode: str


class UpdateUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=255)
    is_developer: bool | None = None


def _user_id(value: str) -> int:
    return decode_id(Kind.USER, value, field="user_id")


@router.get("/users", summary="List users")
async def list_users(
    state: State,
    caller: Caller,
    email: Annotated[str | None, Query(max_length=320)] = None,
    status: Annotated[list[str] | None, Query()] = None,
    limit: Annotated[int, wire.limit_param(100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    statuses = tuple(sorted({parse_enum(s, USER_STATUSES, "status") for s in status or []}))
    filters = UserFilters(email=email or None, statuses=statuses)
    async with state.db.session() as session:
        page = await service.list_users(session, caller, filters, wire.page_request(limit, cursor), state.cursors)
    return wire.JSONResponse({"users": [mapper.user(u) for u in page.items], "pagination": wire.pagination(page)})


@router.post("/users", status_code=201, summary="Create a user (or return the one with this email)")
async def create_user(body: CreateUser, state: State, caller: Caller) -> wire.JSONResponse:
    if body.role.kind("role") == "CUSTOM":
        raise Unprocessable("Custom account roles are not supported; use a PREDEFINED role.")
    assert body.role.name is not None  # kind() requires a name for a PREDEFINED role
    invite_mode = parse_enum(body.invite_mode, ("NONE", "EMAIL_LINK", "TEMPORARY_PASSWORD"), "invite_mode")
    role_name = parse_enum(body.role.name, ("ADMIN", "MEMBER", "MEMBER_UI_ONLY", "ANNOTATOR"), "role.name")
    async with state.db.session() as session:
        user, created = await service.create(
            session,
            caller,
            name=body.name,
            email=body.email,
            account_role=role_name,
            invite_mode=invite_mode,
        )
    if not created:
        return wire.JSONResponse(mapper.user(user), status_code=200)
    return wire.JSONResponse({**mapper.user(user), "invite_mode": invite_mode}, status_code=201)


@router.get("/users/{user_id}", summary="Get a user")
async def get_user(user_id: str, state: State, caller: Caller) -> wire.JSONResponse:
    async with state.db.session() as session:
        user = await service.get(session, caller, _user_id(user_id))
    return wire.JSONResponse(mapper.user(user))


@router.patch("/users/{user_id}", summary="Update a user")
async def update_user(user_id: str, body: UpdateUser, state: State, caller: Caller) -> wire.JSONResponse:
    if body.name is None and body.is_developer is None:
        raise InvalidInput("Send at least one of 'name' or 'is_developer'.")
    async with state.db.session() as session:
        user = await service.update(session, caller, _user_id(user_id), name=body.name, is_developer=body.is_developer)
    return wire.JSONResponse(mapper.user(user))


@router.delete("/users/{user_id}", status_code=204, response_class=Response, summary="Delete a user")
async def delete_user(user_id: str, state: State, caller: Caller) -> Response:
    async with state.db.session() as session:
        await service.remove(session, caller, _user_id(user_id))
    state.principals.clear()
    return wire.no_content()
