"""Evaluators: template (LLM judge) and code evaluators, their versions, and a template catalogue."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    model_validator,
)
from starlette.responses import Response

from evalplane.api import wire
from evalplane.api.deps import Caller, State, WireDialect
from evalplane.api.mappers import evaluators as mapper
from evalplane.core.errors import InvalidInput, UnknownId
from evalplane.core.ids import Kind, decode_id, maybe_decode_id
from evalplane.domains.evaluators import service
from evalplane.domains.evaluators.catalogue import TEMPLATES
from evalplane.domains.evaluators.service import VersionInput

router = APIRouter(prefix="/v2", tags=["Evaluators"])


class _Strict(BaseModel):
    # Unstorable values (NUL, NaN, huge integers) are refused app-wide by text_guard.guard_request.
    model_config = ConfigDict(extra="forbid")


Number = StrictInt | StrictFloat
Text = Annotated[str, Field(max_length=10_000)]


class JsonSchemaIn(_Strict):
    name: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: StrictBool | None = None


class ResponseFormatIn(_Strict):
    type: str | None = None
    json_schema: JsonSchemaIn | None = None


class ToolConfigIn(_Strict):
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None


class InvocationParamsIn(_Strict):
    temperature: Number | None = None
    max_tokens: StrictInt | None = None
    max_completion_tokens: StrictInt | None = None
    top_p: Number | None = None
    frequency_penalty: Number | None = None
    presence_penalty: Number | None = None
    stop: list[str] | None = None
    response_format: ResponseFormatIn | None = None
    tool_config: ToolConfigIn | None = None
    top_k: StrictInt | None = None
    thinking_level: str | None = None
    thinking_budget: StrictInt | None = None
    reasoning_effort: str | None = None
    verbosity: str | None = None


class AzureParamsIn(_Strict):
    azure_deployment_name: str | None = None
    azure_openai_endpoint: str | None = None
    azure_openai_version: str | None = None


class AnthropicHeadersIn(_Strict):
    anthropic_beta: list[str] | None = None


class BedrockOptionsIn(_Strict):
    use_converse_endpoint: StrictBool | None = None


class ProviderParamsIn(_Strict):
    azure_params: AzureParamsIn | None = None
    anthropic_headers: AnthropicHeadersIn | None = None
    anthropic_version: str | None = None
    bedrock_options: BedrockOptionsIn | None = None
    region: str | None = None


class LlmConfigIn(_Strict):
    ai_integration_id: str
    model_name: Annotated[str, Field(max_length=255)]
    invocation_parameters: InvocationParamsIn = Field(default_factory=InvocationParamsIn)
    provider_parameters: ProviderParamsIn = Field(default_factory=ProviderParamsIn)


class TemplateConfigIn(_Strict):
    name: str
    template: str
    include_explanations: StrictBool
    use_function_calling: StrictBool
    use_structured_output: StrictBool | None = None
    classification_choices: dict[str, Number] | None = None
    direction: str | None = None
    data_granularity: str | None = None
    llm_config: LlmConfigIn


class StaticParamIn(_Strict):
    name: str
    type: str
    default_value: str | list[str]


class CodeConfigIn(_Strict):
    """Managed or custom, told apart by ``type``; each variant's own fields only."""

    type: str
    name: str
    variables: list[str]
    managed_evaluator: str | None = None
    code: str | None = None
    imports: str | None = None
    static_params: Annotated[list[StaticParamIn], Field(max_length=50)] | None = None
    data_granularity: str | None = None
    query_filter: str | None = None

    @model_validator(mode="after")
    def _one_variant(self) -> CodeConfigIn:
        kind = self.type.strip().upper()
        if kind == "MANAGED":
            if self.code is not None or self.imports is not None:
                raise ValueError("a MANAGED code config takes 'managed_evaluator', not 'code' or 'imports'")
            if self.managed_evaluator is None:
                raise ValueError("a MANAGED code config needs 'managed_evaluator'")
        elif kind == "CUSTOM":
            if self.managed_evaluator is not None:
                raise ValueError("a CUSTOM code config takes 'code', not 'managed_evaluator'")
            if self.code is None:
                raise ValueError("a CUSTOM code config needs 'code'")
        else:
            raise ValueError("'type' must be MANAGED or CUSTOM")
        return self


class RemoteConfigIn(_Strict):
    integration_id: str


class VersionIn(_Strict):
    commit_message: Annotated[str, Field(min_length=1, max_length=1000)]
    template_config: TemplateConfigIn | None = None
    code_config: CodeConfigIn | None = None
    remote_config: RemoteConfigIn | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> VersionIn:
        given = [c for c in (self.template_config, self.code_config, self.remote_config) if c is not None]
        if len(given) != 1:
            raise ValueError("a version needs exactly one of 'template_config', 'code_config' or 'remote_config'")
        return self


class CreateEvaluator(_Strict):
    space_id: str
    name: Annotated[str, Field(min_length=1, max_length=255)]
    description: Text | None = None
    type: str
    version: VersionIn


class UpdateEvaluator(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    description: Text | None = None


class DeleteVersions(_Strict):
    version_ids: Annotated[list[str], Field(min_length=1, max_length=100)]


def _version_input(body: VersionIn) -> VersionInput:
    if body.template_config is not None:
        config = body.template_config.model_dump(exclude_none=True, by_alias=True)
        config["llm_config"]["ai_integration_id"] = decode_id(
            Kind.AI_INTEGRATION, body.template_config.llm_config.ai_integration_id, field="llm_config.ai_integration_id"
        )
        return VersionInput("TEMPLATE", body.commit_message, config)
    if body.code_config is not None:
        return VersionInput("CODE", body.commit_message, body.code_config.model_dump(exclude_none=True))
    return VersionInput("REMOTE", body.commit_message, {})


def _evaluator_id(value: str) -> int:
    return decode_id(Kind.EVALUATOR, value, field="evaluator_id")


@router.get("/evaluators", summary="List evaluators")
async def list_evaluators(
    state: State,
    caller: Caller,
    dialect: WireDialect,
    filters: wire.SpaceFilters,
    limit: Annotated[int, wire.limit_param(100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    async with state.db.session() as session:
        page = await service.list_evaluators(session, caller, filters, wire.page_request(limit, cursor), state.cursors)
    return wire.JSONResponse(
        {"evaluators": [mapper.evaluator(e, dialect) for e in page.items], "pagination": wire.pagination(page)}
    )


@router.post("/evaluators", status_code=201, summary="Create an evaluator with its first version")
async def create_evaluator(
    body: CreateEvaluator, state: State, caller: Caller, dialect: WireDialect
) -> wire.JSONResponse:
    space_id = decode_id(Kind.SPACE, body.space_id, field="space_id")
    version = _version_input(body.version)
    async with state.db.session() as session:
        view = await service.create(
            session,
            caller,
            space_id=space_id,
            name=body.name,
            type=body.type,
            description=body.description,
            version=version,
        )
    return wire.JSONResponse(mapper.evaluator_with_version(view, dialect), status_code=201)


@router.get("/evaluator-templates", summary="List the built-in judge templates")
async def list_evaluator_templates(caller: Caller, dialect: WireDialect) -> wire.JSONResponse:
    return wire.JSONResponse({"evaluator_templates": [mapper.catalogue_template(t, dialect) for t in TEMPLATES]})


@router.get("/evaluators/{evaluator_id}", summary="Get an evaluator with its latest (or a chosen) version")
async def get_evaluator(
    evaluator_id: str,
    state: State,
    caller: Caller,
    dialect: WireDialect,
    version_id: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    target = _evaluator_id(evaluator_id)
    chosen = maybe_decode_id(Kind.EVALUATOR_VERSION, version_id, field="version_id")
    async with state.db.session() as session:
        view = await service.get(session, caller, target, chosen)
    return wire.JSONResponse(mapper.evaluator_with_version(view, dialect))


@router.patch("/evaluators/{evaluator_id}", summary="Rename or describe an evaluator")
async def update_evaluator(
    evaluator_id: str, body: UpdateEvaluator, state: State, caller: Caller, dialect: WireDialect
) -> wire.JSONResponse:
    target = _evaluator_id(evaluator_id)
    changes = {key: getattr(body, key) for key in body.model_fields_set}
    if "name" in changes and changes["name"] is None:
        raise InvalidInput("'name' cannot be null.", field="name")
    async with state.db.session() as session:
        row = await service.update_evaluator(session, caller, target, changes)
    return wire.JSONResponse(mapper.evaluator(row, dialect))


@router.delete("/evaluators/{evaluator_id}", status_code=204, response_class=Response, summary="Delete an evaluator")
async def delete_evaluator(evaluator_id: str, state: State, caller: Caller) -> Response:
    async with state.db.session() as session:
        await service.remove(session, caller, _evaluator_id(evaluator_id))
    return wire.no_content()


@router.get("/evaluators/{evaluator_id}/versions", summary="List an evaluator's versions, newest first")
async def list_evaluator_versions(
    evaluator_id: str,
    state: State,
    caller: Caller,
    dialect: WireDialect,
    limit: Annotated[int, wire.limit_param(100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> wire.JSONResponse:
    target = _evaluator_id(evaluator_id)
    async with state.db.session() as session:
        page = await service.list_versions(session, caller, target, wire.page_request(limit, cursor), state.cursors)
    return wire.JSONResponse(
        {"evaluator_versions": [mapper.version(v, dialect) for v in page.items], "pagination": wire.pagination(page)}
    )


@router.post("/evaluators/{evaluator_id}/versions", status_code=201, summary="Add a version to an evaluator")
async def create_evaluator_version(
    evaluator_id: str, body: VersionIn, state: State, caller: Caller, dialect: WireDialect
) -> wire.JSONResponse:
    target = _evaluator_id(evaluator_id)
    version = _version_input(body)
    async with state.db.session() as session:
        row = await service.create_version(session, caller, target, version)
    return wire.JSONResponse(mapper.version(row, dialect), status_code=201)


@router.delete("/evaluators/{evaluator_id}/versions", summary="Delete some versions of an evaluator")
async def delete_evaluator_versions(
    evaluator_id: str, body: DeleteVersions, state: State, caller: Caller
) -> wire.JSONResponse:
    target = _evaluator_id(evaluator_id)
    decoded: dict[str, int | None] = {}
    for raw in dict.fromkeys(body.version_ids):
        try:
            decoded[raw] = decode_id(Kind.EVALUATOR_VERSION, raw, field="version_ids")
        except UnknownId:
            decoded[raw] = None  # unknown ids are reported as not deleted, not rejected
    async with state.db.session() as session:
        deleted, _ = await service.delete_versions(
            session, caller, target, [v for v in decoded.values() if v is not None]
        )
    gone = set(deleted)
    return wire.JSONResponse(
        {
            "completed": True,
            "deleted_version_ids": [raw for raw, v in decoded.items() if v in gone],
            "not_deleted_version_ids": [raw for raw, v in decoded.items() if v not in gone],
        }
    )


@router.get("/evaluator-versions/{version_id}", summary="Get one evaluator version")
async def get_evaluator_version(
    version_id: str, state: State, caller: Caller, dialect: WireDialect
) -> wire.JSONResponse:
    target = decode_id(Kind.EVALUATOR_VERSION, version_id, field="version_id")
    async with state.db.session() as session:
        row = await service.get_version(session, caller, target)
    return wire.JSONResponse(mapper.version(row, dialect))
