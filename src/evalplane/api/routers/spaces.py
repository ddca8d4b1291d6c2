"""Spaces."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from evalplane.api import wire
from evalplane.api.deps import Caller, State
from evalplane.core.clock import isoformat
from evalplane.core.ids import Kind, decode_id, encode_id, maybe_decode_id
from evalplane.db.models import Space
from evalplane.domains.spaces import service
from evalplane.domains.spaces.service import SpaceFilters

router = APIRouter(prefix="/v2", tags=["Spaces"])


class CreateSpace(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    organization_id: str
    is_private: bool = False


def to_wire(space: Space) -> dict[str, Any]:
    return {
        "id": encode_id(Kind.SPACE, space.id),
        "organization_id": encode_id(Kind.ORGANIZATION, space.organization_id),
        "name": space.name,
        "description": space.description,
        "created_at": isoformat(space.created_at),
        "is_private": space.is_private,
    }


@router.get("/spaces", summary="List spaces")
async def list_spaces(
    state: State,
    caller: Caller,
    org_id: Annotated[str | None, Query()] = None,
    name: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, wire.limit_param(100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    filters = SpaceFilters(organization_id=maybe_decode_id(Kind.ORGANIZATION, org_id, field="org_id"), name=name or None)
    async with state.db.session() as session:
        page = await service.list_spaces(session, caller, filters, wire.page_request(limit, cursor), state.cursors)
    return wire.JSONResponse({"spaces": [to_wire(s) for s in page.items], "pagination": wire.pagination(page)})


@router.post("/spaces", status_code=201, summary="Create a space")
async def create_space(body: CreateSpace, state: State, caller: Caller) -> wire.JSONResponse:
    org_id = decode_id(Kind.ORGANIZATION, body.organization_id, field="organization_id")
    async with state.db.session() as session:
        space = await service.create(session, caller, organization_id=org_id, name=body.name, is_private=body.is_private)
    state.principals.clear()
    return wire.JSONResponse(to_wire(space), status_code=201)


@router.get("/spaces/{space_id}", summary="Get a space")
async def get_space(space_id: str, state: State, caller: Caller) -> wire.JSONResponse:
    async with state.db.session() as session:
        space = await service.get(session, caller, decode_id(Kind.SPACE, space_id, field="space_id"))
    return wire.JSONResponse(to_wire(space))
