"""AI Integrations: provider credentials (write-only API keys and headers) and their scopes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from starlette.responses import Response

from evalplane.api import wire
from evalplane.api.deps import Caller, State, WireDialect
from evalplane.api.mappers import ai_integrations as mapper
from evalplane.core.ids import Kind, decode_id, maybe_decode_id
from evalplane.core.secrets import box_for
from evalplane.domains.ai_integrations import service
from evalplane.domains.ai_integrations.service import Scope

router = APIRouter(prefix="/v2", tags=["AI Integrations"])

Name = Annotated[str, Field(min_length=1, max_length=255)]
Secret = Annotated[str, Field(max_length=8192)]
Url = Annotated[str, Field(max_length=2048)]
ModelNames = Annotated[list[Annotated[str, Field(max_length=255)]], Field(max_length=500)]


class _Strict(BaseModel):
    # Unstorable values (NUL, NaN, huge integers) are refused app-wide by text_guard.guard_request.
    model_config = ConfigDict(extra="forbid")


class ScopingIn(_Strict):
    organization_id: str | None = None
    space_id: str | None = None


class ProviderMetadataIn(_Strict):
    kind: str
    role_arn: str | None = None
    external_id: str | None = None
    project_id: str | None = None
    location: str | None = None
    project_access_label: str | None = None


class CreateAiIntegration(_Strict):
    name: Name
    provider: str
    api_key: Secret | None = None
    base_url: Url | None = None
    model_names: ModelNames | None = None
    headers: dict[str, str] | None = None
    enable_default_models: StrictBool | None = None
    function_calling_enabled: StrictBool | None = None
    auth_type: str | None = None
    provider_metadata: ProviderMetadataIn | None = None
    scopings: Annotated[list[ScopingIn], Field(max_length=100)] | None = None


class UpdateAiIntegration(_Strict):
    name: Name | None = None
    provider: str | None = None
    api_key: Secret | None = None
    base_url: Url | None = None
    model_names: ModelNames | None = None
    headers: dict[str, str] | None = None
    enable_default_models: StrictBool | None = None
    function_calling_enabled: StrictBool | None = None
    auth_type: str | None = None
    provider_metadata: ProviderMetadataIn | None = None
    scopings: Annotated[list[ScopingIn], Field(max_length=100)] | None = None


def _scopes(scopings: list[ScopingIn] | None) -> list[Scope] | None:
    if scopings is None:
        return None
    return [
        Scope(
            organization_id=maybe_decode_id(Kind.ORGANIZATION, s.organization_id, field="scopings.organization_id"),
            space_id=maybe_decode_id(Kind.SPACE, s.space_id, field="scopings.space_id"),
        )
        for s in scopings
    ]


def _metadata(metadata: ProviderMetadataIn | None) -> dict[str, Any] | None:
    return None if metadata is None else metadata.model_dump(exclude_none=True)


def _integration_id(value: str) -> int:
    return decode_id(Kind.AI_INTEGRATION, value, field="integration_id")


@router.get("/ai-integrations", summary="List AI integrations")
async def list_ai_integrations(
    state: State,
    caller: Caller,
    dialect: WireDialect,
    filters: wire.SpaceFilters,
    limit: Annotated[int, wire.limit_param(100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    async with state.db.session() as session:
        page = await service.list_integrations(
            session, caller, filters, wire.page_request(limit, cursor), state.cursors
        )
    return wire.JSONResponse(
        {"ai_integrations": [mapper.integration(v, dialect) for v in page.items], "pagination": wire.pagination(page)}
    )


@router.post("/ai-integrations", status_code=201, summary="Create an AI integration")
async def create_ai_integration(
    body: CreateAiIntegration, state: State, caller: Caller, dialect: WireDialect
) -> wire.JSONResponse:
    scopes = _scopes(body.scopings)
    async with state.db.session() as session:
        view = await service.create(
            session,
            caller,
            box_for(state.secret_key),
            name=body.name,
            provider=body.provider,
            api_key=body.api_key,
            base_url=body.base_url,
            model_names=body.model_names,
            headers=body.headers,
            enable_default_models=body.enable_default_models,
            function_calling_enabled=body.function_calling_enabled,
            auth_type=body.auth_type,
            provider_metadata=_metadata(body.provider_metadata),
            scopes=scopes,
            egress=state.settings.egress_policy(),
        )
    return wire.JSONResponse(mapper.integration(view, dialect), status_code=201)


@router.get("/ai-integrations/{integration_id}", summary="Get an AI integration")
async def get_ai_integration(
    integration_id: str, state: State, caller: Caller, dialect: WireDialect
) -> wire.JSONResponse:
    async with state.db.session() as session:
        view = await service.get(session, caller, _integration_id(integration_id))
    return wire.JSONResponse(mapper.integration(view, dialect))


@router.patch("/ai-integrations/{integration_id}", summary="Update an AI integration")
async def update_ai_integration(
    integration_id: str, body: UpdateAiIntegration, state: State, caller: Caller, dialect: WireDialect
) -> wire.JSONResponse:
    target = _integration_id(integration_id)
    changes: dict[str, Any] = {key: getattr(body, key) for key in body.model_fields_set}
    if "scopings" in changes:
        changes["scopings"] = _scopes(body.scopings)
    if "provider_metadata" in changes:
        changes["provider_metadata"] = _metadata(body.provider_metadata)
    async with state.db.session() as session:
        view = await service.update(
            session, caller, box_for(state.secret_key), target, changes, egress=state.settings.egress_policy()
        )
    return wire.JSONResponse(mapper.integration(view, dialect))


@router.delete(
    "/ai-integrations/{integration_id}", status_code=204, response_class=Response, summary="Delete an AI integration"
)
async def delete_ai_integration(integration_id: str, state: State, caller: Caller) -> Response:
    async with state.db.session() as session:
        await service.remove(session, caller, _integration_id(integration_id))
    return wire.no_content()
