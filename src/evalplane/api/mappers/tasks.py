"""Task and task-run wire shapes for both dialects: request bodies in, responses out.

Requests are parsed into the domain's inputs (ids decoded, enums upper-case). Responses are
rendered per dialect: the seed's exact fields with lower-case enums, or the current SDK's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from evalplane.api.dialect import Dialect, parse_enum
from evalplane.core.clock import isoformat
from evalplane.core.errors import InvalidInput
from evalplane.core.ids import Kind, decode_id, encode_id, id_encoder, maybe_decode_id
from evalplane.db.models import TaskRun
from evalplane.domains.tasks.inputs import TASK_TYPES, EvaluatorSpec, NewTask, RunRequest, TaskChanges
from evalplane.domains.tasks.repository import TaskView


def _enum(*allowed: str) -> AfterValidator:
    """An enum accepted in either case and kept upper-case."""

    def check(value: str) -> str:
        canonical = value.strip().upper()
        if canonical not in allowed:
            raise ValueError(f"must be one of: {', '.join(a.lower() for a in allowed)} (either case)")
        return canonical

    return AfterValidator(check)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- request bodies ---------------------------------------------------------------------


class QueryMappingIn(_Strict):
    variable_name: str = Field(min_length=1, max_length=256)
    query_ids: list[str] = Field(default_factory=list, max_length=5)
    attribute_path: str = Field(min_length=1, max_length=1024)


class EvaluatorIn(_Strict):
    evaluator_id: str
    evaluator_version_id: str | None = None
    query_filter: str | None = None
    column_mappings: dict[str, str] | None = None
    query_mappings: list[QueryMappingIn] | None = Field(default=None, min_length=1, max_length=50)


class QueryFilterIn(_Strict):
    id: str
    filter: str = Field(max_length=2000)


class QueryFiltersIn(_Strict):
    filters: list[QueryFilterIn] = Field(max_length=5)
    expression: str | None = Field(default=None, max_length=512)


class CreateTask(_Strict):
    name: str = Field(min_length=1, max_length=255)
    type: str
    project_id: str | None = None
    dataset_id: str | None = None
    experiment_ids: list[str] | None = None
    sampling_rate: float | None = Field(default=None, ge=0, le=1)
    is_continuous: bool | None = None
    query_filter: str | None = None
    query_filters: QueryFiltersIn | None = None
    evaluators: list[EvaluatorIn] | None = None
    run_configuration: dict[str, Any] | None = None


class UpdateTask(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    sampling_rate: float | None = Field(default=None, ge=0, le=1)
    is_continuous: bool | None = None
    query_filter: str | None = None
    query_filters: QueryFiltersIn | None = None
    evaluators: list[EvaluatorIn] | None = Field(default=None, min_length=1)
    run_configuration: dict[str, Any] | None = None


class TriggerRun(_Strict):
    data_start_time: datetime | None = None
    data_end_time: datetime | None = None
    max_spans: int | None = Field(default=None, ge=1)
    override_evaluations: bool | None = None
    experiment_ids: list[str] | None = None
    experiment_name: str | None = Field(default=None, max_length=255)
    dataset_version_id: str | None = None
    example_ids: list[str] | None = None
    max_examples: int | None = Field(default=None, ge=1)
    query_filter: str | None = None
    tracing_metadata: dict[str, str] | None = None
    evaluation_task_ids: list[str] | None = None


# Run configurations, validated per experiment_type.


class _ToolCallFunctionIn(_Strict):
    name: str
    arguments: str


class _ToolCallIn(_Strict):
    id: str | None = None
    type: Annotated[str, _enum("FUNCTION")]
    function: _ToolCallFunctionIn


class _MessageIn(_Strict):
    role: Annotated[str, _enum("USER", "ASSISTANT", "SYSTEM", "TOOL")]
    content: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[_ToolCallIn] | None = None


class _JsonSchemaIn(_Strict):
    name: str | None = None
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class _ResponseFormatIn(_Strict):
    type: Annotated[str, _enum("TEXT", "JSON_OBJECT", "JSON_SCHEMA")] | None = None
    json_schema: _JsonSchemaIn | None = None


class _ToolConfigIn(_Strict):
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None


class _InvocationParamsIn(BaseModel):
    # Providers keep adding knobs; unknown ones are kept as given.
    model_config = ConfigDict(extra="allow")
    temperature: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    top_p: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    stop: list[str] | None = None
    response_format: _ResponseFormatIn | None = None
    tool_config: _ToolConfigIn | None = None
    top_k: int | None = None
    thinking_level: str | None = None
    thinking_budget: int | None = None
    reasoning_effort: str | None = None
    verbosity: str | None = None


class _LlmGenerationIn(_Strict):
    experiment_type: str
    ai_integration_id: str
    model_name: str | None = None
    messages: list[_MessageIn] = Field(min_length=1)
    input_variable_format: Annotated[str, _enum("F_STRING", "MUSTACHE", "NONE")] = "F_STRING"
    invocation_parameters: _InvocationParamsIn | None = None
    provider_parameters: dict[str, Any] | None = None
    tool_config: _ToolConfigIn | None = None
    prompt_version_id: str | None = None


class _TemplateEvaluationIn(_Strict):
    experiment_type: str
    ai_integration_id: str
    model_name: str | None = None
    template: str = Field(min_length=1)
    provide_explanation: bool
    classification_choices: dict[str, float] | None = None
    column_mapping: dict[str, str] | None = None
    evaluator_version_id: str | None = None
    invocation_parameters: _InvocationParamsIn | None = None
    provider_parameters: dict[str, Any] | None = None


_RUN_CONFIG_MODELS: dict[str, type[BaseModel]] = {
    "LLM_GENERATION": _LlmGenerationIn,
    "TEMPLATE_EVALUATION": _TemplateEvaluationIn,
}


def run_configuration_in(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """Validate a run configuration and store it canonically: ids as numbers, enums upper-case."""
    if raw is None:
        return None
    kind = raw.get("experiment_type")
    if not isinstance(kind, str):
        raise InvalidInput(
            "'run_configuration.experiment_type' is required: llm_generation or template_evaluation.",
            field="run_configuration",
        )
    kind = kind.strip().upper()
    if kind == "AGENT_CALL":
        return {"experiment_type": kind}  # the domain refuses it with a clear 422
    model = _RUN_CONFIG_MODELS.get(kind)
    if model is None:
        raise InvalidInput(
            "'run_configuration.experiment_type' must be llm_generation or template_evaluation.",
            field="run_configuration",
        )
    try:
        parsed = model.model_validate({**raw, "experiment_type": kind})
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", "run_configuration", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None
    config = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
    config["experiment_type"] = kind
    if kind == "LLM_GENERATION":
        config.setdefault("input_variable_format", "F_STRING")
    config["ai_integration_id"] = decode_id(
        Kind.AI_INTEGRATION, config["ai_integration_id"], field="run_configuration.ai_integration_id"
    )
    if config.get("evaluator_version_id") is not None:
        config["evaluator_version_id"] = decode_id(
            Kind.EVALUATOR_VERSION, config["evaluator_version_id"], field="run_configuration.evaluator_version_id"
        )
    return config


def _ids(kind: Kind, values: list[str] | None, field: str) -> list[int] | None:
    if values is None:
        return None
    return [decode_id(kind, v, field=f"{field}[{i}]") for i, v in enumerate(values)]


def _evaluators_in(items: list[EvaluatorIn] | None) -> list[EvaluatorSpec] | None:
    if items is None:
        return None
    return [
        EvaluatorSpec(
            evaluator_id=decode_id(Kind.EVALUATOR, e.evaluator_id, field=f"evaluators[{i}].evaluator_id"),
            evaluator_version_id=maybe_decode_id(
                Kind.EVALUATOR_VERSION, e.evaluator_version_id, field=f"evaluators[{i}].evaluator_version_id"
            ),
            query_filter=e.query_filter,
            column_mappings=e.column_mappings,
            query_mappings=None if e.query_mappings is None else [m.model_dump() for m in e.query_mappings],
        )
        for i, e in enumerate(items)
    ]


def _query_filters_in(value: QueryFiltersIn | None) -> dict[str, Any] | None:
    return None if value is None else value.model_dump(exclude_none=True)


def new_task(body: CreateTask) -> NewTask:
    return NewTask(
        name=body.name,
        type=parse_enum(body.type, TASK_TYPES, "type") or "",
        project_id=maybe_decode_id(Kind.PROJECT, body.project_id, field="project_id"),
        dataset_id=maybe_decode_id(Kind.DATASET, body.dataset_id, field="dataset_id"),
        experiment_ids=_ids(Kind.EXPERIMENT, body.experiment_ids, "experiment_ids"),
        sampling_rate=body.sampling_rate,
        is_continuous=body.is_continuous,
        query_filter=body.query_filter,
        query_filters=_query_filters_in(body.query_filters),
        evaluators=_evaluators_in(body.evaluators),
        run_configuration=run_configuration_in(body.run_configuration),
    )


def task_changes(body: UpdateTask) -> TaskChanges:
    return TaskChanges(
        provided=frozenset(body.model_fields_set),
        name=body.name,
        sampling_rate=body.sampling_rate,
        is_continuous=body.is_continuous,
        query_filter=body.query_filter,
        query_filters=_query_filters_in(body.query_filters),
        evaluators=_evaluators_in(body.evaluators),
        run_configuration=run_configuration_in(body.run_configuration),
    )


def run_request(body: TriggerRun | None) -> RunRequest:
    if body is None:
        return RunRequest()
    return RunRequest(
        data_start_time=body.data_start_time,
        data_end_time=body.data_end_time,
        max_spans=body.max_spans,
        override_evaluations=body.override_evaluations,
        experiment_ids=_ids(Kind.EXPERIMENT, body.experiment_ids, "experiment_ids"),
        experiment_name=body.experiment_name,
        dataset_version_id=maybe_decode_id(Kind.DATASET_VERSION, body.dataset_version_id, field="dataset_version_id"),
        example_ids=_ids(Kind.DATASET_EXAMPLE, body.example_ids, "example_ids"),
        max_examples=body.max_examples,
        query_filter=body.query_filter,
        tracing_metadata=body.tracing_metadata,
        evaluation_task_ids=_ids(Kind.TASK, body.evaluation_task_ids, "evaluation_task_ids"),
    )


# --- responses --------------------------------------------------------------------------


def _opt_id(kind: Kind, value: int | None) -> str | None:
    return None if value is None else encode_id(kind, value)


def _render_enum(dialect: Dialect) -> Callable[[Any], Any]:
    return lambda value: dialect.enum(value.upper()) if isinstance(value, str) else value


def run_configuration(config: dict[str, Any] | None, dialect: Dialect) -> dict[str, Any] | None:
    """Stored configs keep ids as numbers and enums upper-case; render them for the wire."""
    if config is None:
        return None
    rendered = _rendered_run_configuration(config, dialect)
    return rendered if dialect.current else seed_run_configuration(rendered)


def _rendered_run_configuration(config: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
    enum = _render_enum(dialect)
    out = dict(config)
    for key in ("experiment_type", "input_variable_format"):
        if key in out:
            out[key] = enum(out[key])
    for key, kind in (
        ("ai_integration_id", Kind.AI_INTEGRATION),
        ("evaluator_version_id", Kind.EVALUATOR_VERSION),
    ):
        if isinstance(out.get(key), int):
            out[key] = encode_id(kind, out[key])
    if isinstance(out.get("messages"), list):
        out["messages"] = [_message(m, enum) for m in out["messages"]]
    if isinstance(out.get("invocation_parameters"), dict):
        params = dict(out["invocation_parameters"])
        if isinstance(params.get("response_format"), dict) and "type" in params["response_format"]:
            params["response_format"] = {**params["response_format"], "type": enum(params["response_format"]["type"])}
        out["invocation_parameters"] = params
    return out


# The keys the seed declares for each object of a run configuration; None marks an object the
# seed leaves open (InvocationParams allows additional properties), whose nested objects are
# still trimmed.
_SEED_TOOL_CONFIG = {"tools": None, "tool_choice": None}
_SEED_INVOCATION_PARAMS: dict[str, Any] = {
    "response_format": {
        "type": None,
        "json_schema": {"name": None, "description": None, "schema": None, "strict": None},
    },
    "tool_config": _SEED_TOOL_CONFIG,
}
_SEED_MESSAGE = {
    "role": None,
    "content": None,
    "tool_call_id": None,
    "tool_calls": {"id": None, "type": None, "function": {"name": None, "arguments": None}},
}
_SEED_RUN_CONFIGS: dict[str, dict[str, Any]] = {
    "llm_generation": {
        "experiment_type": None,
        "ai_integration_id": None,
        "model_name": None,
        "messages": _SEED_MESSAGE,
        "input_variable_format": None,
        "invocation_parameters": _SEED_INVOCATION_PARAMS,
        "provider_parameters": None,
        "tool_config": _SEED_TOOL_CONFIG,
        "prompt_version_id": None,
    },
    "template_evaluation": {
        "experiment_type": None,
        "ai_integration_id": None,
        "model_name": None,
        "template": None,
        "provide_explanation": None,
        "classification_choices": None,
        "column_mapping": None,
        "evaluator_version_id": None,
        "invocation_parameters": _SEED_INVOCATION_PARAMS,
        "provider_parameters": None,
    },
}
_OPEN = {"invocation_parameters"}  # seed objects that allow additional properties


def seed_run_configuration(rendered: dict[str, Any]) -> dict[str, Any] | None:
    """A rendered (lower-case) run configuration trimmed to exactly what the seed declares.

    The seed knows only llm_generation and template_evaluation; anything else (AGENT_CALL)
    cannot be expressed there and renders as null, which the seed allows for this field.
    """
    shape = _SEED_RUN_CONFIGS.get(str(rendered.get("experiment_type")))
    return None if shape is None else _trim(rendered, shape, open_=False)


def _trim(value: Any, shape: dict[str, Any], *, open_: bool) -> Any:
    if isinstance(value, list):
        return [_trim(v, shape, open_=open_) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key in shape:
            nested = shape[key]
            out[key] = item if nested is None else _trim(item, nested, open_=key in _OPEN)
        elif open_:
            out[key] = item
    return out


def _message(message: dict[str, Any], enum: Callable[[Any], Any]) -> dict[str, Any]:
    out = dict(message)
    if "role" in out:
        out["role"] = enum(out["role"])
    if isinstance(out.get("tool_calls"), list):
        out["tool_calls"] = [
            {**c, "type": enum(c.get("type"))} if isinstance(c, dict) else c for c in out["tool_calls"]
        ]
    return out


_task_id = id_encoder(Kind.TASK)
_evaluator_id = id_encoder(Kind.EVALUATOR)
_evaluator_version_id = id_encoder(Kind.EVALUATOR_VERSION)
_project_id = id_encoder(Kind.PROJECT)
_dataset_id = id_encoder(Kind.DATASET)
_experiment_id = id_encoder(Kind.EXPERIMENT)
_user_id = id_encoder(Kind.USER)


def _time(value: datetime | str | None) -> str | None:
    """List pages hand over timestamps already in wire form (see ``TaskRow``)."""
    return value if value is None or isinstance(value, str) else isoformat(value)


def task(view: TaskView, dialect: Dialect) -> dict[str, Any]:
    # Hot on list pages (50 per request): ids through per-kind encoders, one dict literal.
    t = view.task
    current = dialect.current
    evaluators = []
    for attached in view.evaluators:
        link = attached.link
        version = link.evaluator_version_id
        if current:
            item = {
                "evaluator_id": _evaluator_id(link.evaluator_id),
                "evaluator_name": attached.evaluator_name,
                "evaluator_version_id": None if version is None else _evaluator_version_id(version),
                "query_filter": link.query_filter,
                "column_mappings": link.column_mappings,
                "query_mappings": link.query_mappings,
            }
        else:
            item = {
                "evaluator_id": _evaluator_id(link.evaluator_id),
                "evaluator_name": attached.evaluator_name,
                "query_filter": link.query_filter,
                "column_mappings": link.column_mappings,
            }
        evaluators.append(item)
    project_id, dataset_id, user_id = t.project_id, t.dataset_id, t.created_by_user_id
    body: dict[str, Any] = {
        "id": _task_id(t.id),
        "name": t.name,
        "type": t.type if current else t.type.lower(),
        "project_id": None if project_id is None else _project_id(project_id),
        "dataset_id": None if dataset_id is None else _dataset_id(dataset_id),
        "sampling_rate": t.sampling_rate,
        "is_continuous": t.is_continuous,
        "query_filter": t.query_filter,
    }
    if current:
        body["query_filters"] = t.query_filters
    config = t.run_configuration
    body["evaluators"] = evaluators
    body["experiment_ids"] = [_experiment_id(e) for e in t.experiment_ids] if t.experiment_ids else []
    body["run_configuration"] = None if config is None else run_configuration(config, dialect)
    body["last_run_at"] = _time(t.last_run_at)
    body["created_at"] = _time(t.created_at)
    body["updated_at"] = _time(t.updated_at)
    body["created_by_user_id"] = None if user_id is None else _user_id(user_id)
    return body


def task_run(run: TaskRun, dialect: Dialect) -> dict[str, Any]:
    """The seed declares no run fields beyond the basics; experiment_id and failure_reason are current-only."""
    body: dict[str, Any] = {"id": encode_id(Kind.TASK_RUN, run.id), "task_id": encode_id(Kind.TASK, run.task_id)}
    if dialect.current:
        body["experiment_id"] = _opt_id(Kind.EXPERIMENT, run.experiment_id)
    body.update(
        {
            "status": dialect.enum(run.status),
            "run_started_at": isoformat(run.run_started_at),
            "run_finished_at": isoformat(run.run_finished_at),
            "data_start_time": isoformat(run.data_start_time),
            "data_end_time": isoformat(run.data_end_time),
            "num_successes": run.num_successes,
            "num_errors": run.num_errors,
            "num_skipped": run.num_skipped,
            "created_at": isoformat(run.created_at),
            "created_by_user_id": _opt_id(Kind.USER, run.created_by_user_id),
        }
    )
    if dialect.current:
        body["failure_reason"] = run.failure_reason
    return body
