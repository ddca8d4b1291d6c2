"""API keys: personal USER keys and SERVICE keys with their bot users."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from evalplane.api import wire
from evalplane.api.deps import Caller, State
from evalplane.api.dialect import parse_enum
from evalplane.api.mappers import identity as mapper
from evalplane.core.errors import InvalidInput, Unprocessable
from evalplane.core.ids import Kind, decode_id, encode_id, maybe_decode_id
from evalplane.domains.access import keys as service
from evalplane.domains.access import roles
from evalplane.domains.access.keys import BOT_ACCOUNT_ROLES, KeyFilters

router = APIRouter(prefix="/v2", tags=["API Keys"])

ORG_ROLES = ("ADMIN", "MEMBER", "READ_ONLY", "ANNOTATOR")


class SpaceAssignment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    space_id: str
    role: mapper.RoleAssignment | None = None


class OrgAssignment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org_id: str
    role: mapper.RoleAssignment | None = None
    spaces: list[SpaceAssignment] = Field(min_length=1, max_length=100)


class CreateApiKey(BaseModel):
    """Either body of the spec's one-of, told apart by ``key_type``."""

    model_config = ConfigDict(extra="forbid")
    key_type: str
    name: str = Field(min_length=1, max_length=256)
    description: str | None = Field(default=None, max_length=1000)
    expires_at: datetime | None = None
    account_role: mapper.RoleAssignment | None = None
    organizations: list[OrgAssignment] | None = Field(default=None, min_length=1, max_length=100)


class RefreshApiKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expires_at: datetime | None = None
    grace_period_seconds: int | None = Field(default=None, ge=0, le=86400)


def _key_id(value: str) -> int:
    return decode_id(Kind.API_KEY, value, field="api_key_id")


def _predefined_only(
    assignment: mapper.RoleAssignment | None, field: str, allowed: tuple[str, ...], default: str
) -> str:
    if assignment is None:
        return default
    if assignment.kind(field) == "CUSTOM":
        raise Unprocessable(f"Custom roles are not supported for '{field}'; use a PREDEFINED role.")
    return parse_enum(assignment.name, allowed, f"{field}.name")  # type: ignore[return-value]


@router.get("/api-keys", summary="List API keys")
async def list_api_keys(
    state: State,
    caller: Caller,
    key_type: Annotated[str | None, Query()] = None,
    status: Annotated[str | None, Query()] = None,
    space_id: Annotated[str | None, Query()] = None,
    user_id: Annotated[str | None, Query()] = None,
    limit: Annotated[int, wire.limit_param(100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    filters = KeyFilters(
        key_type=parse_enum(key_type, ("USER", "SERVICE"), "key_type"),
        status=parse_enum(status, ("ACTIVE", "REVOKED"), "status") or "ACTIVE",
        space_id=maybe_decode_id(Kind.SPACE, space_id, field="space_id"),
        user_id=maybe_decode_id(Kind.USER, user_id, field="user_id"),
    )
    async with state.db.session() as session:
        page = await service.list_keys(session, caller, filters, wire.page_request(limit, cursor), state.cursors)
        bots = await service.owners(session, {k.user_id for k in page.items if k.key_type == "SERVICE"})
    items = [mapper.api_key(k, bots.get(k.user_id)) for k in page.items]
    return wire.JSONResponse({"api_keys": items, "pagination": wire.pagination(page)})


@router.post("/api-keys", status_code=201, summary="Create an API key")
async def create_api_key(body: CreateApiKey, state: State, caller: Caller) -> wire.JSONResponse:
    key_type = parse_enum(body.key_type, ("USER", "SERVICE"), "key_type")
    if key_type == "USER":
        if body.account_role is not None or body.organizations is not None:
            raise InvalidInput(
                "USER keys act as their creator; 'account_role' and 'organizations' are for SERVICE keys."
            )
        async with state.db.session() as session:
            created = await service.create_user_key(
                session, caller, name=body.name, description=body.description, expires_at=body.expires_at
            )
        return wire.JSONResponse({**mapper.api_key(created.key), "key": created.secret}, status_code=201)

    if not body.organizations:
        raise InvalidInput("A SERVICE key needs 'organizations' with at least one space.", field="organizations")
    account_role = _predefined_only(body.account_role, "account_role", BOT_ACCOUNT_ROLES, "MEMBER")
    org_roles: dict[str, str] = {}
    for index, org in enumerate(body.organizations):
        org_roles[org.org_id] = _predefined_only(org.role, f"organizations.{index}.role", ORG_ROLES, "READ_ONLY")
    async with state.db.session() as session:
        requested = []
        for index, org in enumerate(body.organizations):
            org_id = decode_id(Kind.ORGANIZATION, org.org_id, field=f"organizations.{index}.org_id")
            for position, space in enumerate(org.spaces):
                field = f"organizations.{index}.spaces.{position}"
                space_id = decode_id(Kind.SPACE, space.space_id, field=f"{field}.space_id")
                role = space.role
                held = (
                    await roles.predefined(session, "MEMBER")
                    if role is None
                    else await roles.from_assignment(
                        session, role.kind(f"{field}.role"), role.name, role.role_id(f"{field}.role")
                    )
                )
                requested.append((org_id, space_id, held))
        grants = await service.resolve_grants(session, caller, requested)
        created = await service.create_service_key(
            session,
            caller,
            name=body.name,
            description=body.description,
            expires_at=body.expires_at,
            account_role=account_role,
            grants=grants,
        )
    organizations: list[dict[str, Any]] = []
    for org in body.organizations:
        org_id = decode_id(Kind.ORGANIZATION, org.org_id, field="org_id")
        spaces = [
            {"space_id": encode_id(Kind.SPACE, g.space_id), "role": mapper.space_role(g.role)}
            for g in created.grants
            if g.organization_id == org_id
        ]
        organizations.append(
            {
                "org_id": encode_id(Kind.ORGANIZATION, org_id),
                "role": mapper.account_role(org_roles[org.org_id]),
                "spaces": spaces,
            }
        )
    payload = mapper.api_key(created.key, created.bot, organizations)
    return wire.JSONResponse({**payload, "key": created.secret}, status_code=201)


@router.put("/api-keys/{api_key_id}/revoke", status_code=204, response_class=Response, summary="Revoke an API key")
async def revoke_api_key(api_key_id: str, state: State, caller: Caller) -> Response:
    async with state.db.session() as session:
        await service.revoke(session, caller, _key_id(api_key_id))
    state.principals.clear()
    return wire.no_content()


@router.post("/api-keys/{api_key_id}/refresh", summary="Replace an API key's secret")
async def refresh_api_key(
    api_key_id: str, state: State, caller: Caller, body: RefreshApiKey | None = None
) -> wire.JSONResponse:
    body = body or RefreshApiKey()
    async with state.db.session() as session:
        key, secret = await service.refresh(
            session,
            caller,
            _key_id(api_key_id),
            expires_at=body.expires_at,
            grace_period_seconds=body.grace_period_seconds or 0,
        )
    state.principals.clear()
    return wire.JSONResponse({**mapper.api_key(key), "key": secret})
