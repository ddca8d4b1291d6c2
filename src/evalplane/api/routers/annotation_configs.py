"""Annotation configs: the kinds of human annotation a space accepts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from evalplane.api import wire
from evalplane.api.deps import Caller, State
from evalplane.core.clock import isoformat
from evalplane.core.errors import InvalidInput
from evalplane.core.ids import Kind, decode_id, encode_id
from evalplane.db.models import AnnotationConfig
from evalplane.domains.annotations import configs
from evalplane.domains.annotations.configs import UNSET, CategoricalValue, ConfigChanges

router = APIRouter(prefix="/v2", tags=["Annotation Configs"])


class CategoricalValueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(min_length=1, max_length=1024)
    score: float | None = None


class CreateAnnotationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    space_id: str
    annotation_config_type: str
    values: list[CategoricalValueIn] | None = Field(default=None, max_length=configs.MAX_VALUES)
    minimum_score: float | None = None
    maximum_score: float | None = None
    optimization_direction: str | None = None


class UpdateAnnotationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    annotation_config_type: str
    name: str | None = Field(default=None, min_length=1, max_length=255)
    values: list[CategoricalValueIn] | None = Field(default=None, max_length=configs.MAX_VALUES)
    minimum_score: float | None = None
    maximum_score: float | None = None
    optimization_direction: str | None = None


def to_wire(config: AnnotationConfig) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": encode_id(Kind.ANNOTATION_CONFIG, config.id),
        "name": config.name,
        "created_at": isoformat(config.created_at),
        "space_id": encode_id(Kind.SPACE, config.space_id),
        "type": config.config_type,
    }
    if config.config_type == configs.CATEGORICAL:
        out["values"] = [
            {"label": v["label"], **({"score": v["score"]} if v.get("score") is not None else {})}
            for v in config.values or []
        ]
    if config.config_type == configs.CONTINUOUS:
        out["minimum_score"] = config.minimum_score
        out["maximum_score"] = config.maximum_score
    if config.config_type != configs.FREEFORM:
        out["optimization_direction"] = config.optimization_direction
    return out


def _changes(body: CreateAnnotationConfig | UpdateAnnotationConfig) -> ConfigChanges:
    sent = body.model_fields_set

    def given(field: str) -> Any:
        return getattr(body, field) if field in sent else UNSET

    values = given("values")
    if values not in (UNSET, None):
        values = [CategoricalValue(v.label, v.score) for v in values]
    if "name" in sent and body.name is None:
        raise InvalidInput("'name' cannot be null.", field="name")
    return ConfigChanges(
        name=given("name"),
        values=values,
        minimum_score=given("minimum_score"),
        maximum_score=given("maximum_score"),
        optimization_direction=given("optimization_direction"),
    )


def _config_id(value: str) -> int:
    return decode_id(Kind.ANNOTATION_CONFIG, value, field="annotation_config_id")


@router.get("/annotation-configs", summary="List annotation configs")
async def list_annotation_configs(
    state: State,
    caller: Caller,
    filters: wire.SpaceFilters,
    limit: Annotated[int, wire.limit_param(100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    async with state.db.session() as session:
        page = await configs.list_configs(session, caller, filters, wire.page_request(limit, cursor), state.cursors)
    return wire.JSONResponse(
        {"annotation_configs": [to_wire(c) for c in page.items], "pagination": wire.pagination(page)}
    )


@router.post("/annotation-configs", status_code=201, summary="Create an annotation config")
async def create_annotation_config(body: CreateAnnotationConfig, state: State, caller: Caller) -> wire.JSONResponse:
    kind = configs.config_type(body.annotation_config_type)
    space_id = decode_id(Kind.SPACE, body.space_id, field="space_id")
    changes = _changes(body)
    async with state.db.session() as session:
        config = await configs.create(session, caller, space_id=space_id, kind=kind, changes=changes)
    return wire.JSONResponse(to_wire(config), status_code=201)


@router.get("/annotation-configs/{annotation_config_id}", summary="Get an annotation config")
async def get_annotation_config(annotation_config_id: str, state: State, caller: Caller) -> wire.JSONResponse:
    async with state.db.session() as session:
        config = await configs.get(session, caller, _config_id(annotation_config_id))
    return wire.JSONResponse(to_wire(config))


@router.patch("/annotation-configs/{annotation_config_id}", summary="Update an annotation config")
async def update_annotation_config(
    annotation_config_id: str, body: UpdateAnnotationConfig, state: State, caller: Caller
) -> wire.JSONResponse:
    kind = configs.config_type(body.annotation_config_type)
    changes = _changes(body)
    async with state.db.session() as session:
        config = await configs.update(session, caller, _config_id(annotation_config_id), kind=kind, changes=changes)
    return wire.JSONResponse(to_wire(config))


@router.delete(
    "/annotation-configs/{annotation_config_id}",
    status_code=204,
    response_class=Response,
    summary="Delete an annotation config",
)
async def delete_annotation_config(annotation_config_id: str, state: State, caller: Caller) -> Response:
    async with state.db.session() as session:
        await configs.remove(session, caller, _config_id(annotation_config_id))
    return wire.no_content()
