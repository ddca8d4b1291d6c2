"""The rules a task must satisfy: filters and their shapes, evaluators, experiments, run configs.

Status policy: a malformed or inapplicable field is InvalidInput (400); a reference that does
not resolve for the caller is NotFound (404); a reference that resolves but does not fit (another
space, another dataset, the wrong evaluator kind) is Unprocessable (422); a taken name is 409.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.errors import InvalidInput, NotFound, Unprocessable
from evalplane.db.models import (
    Evaluator,
    EvaluatorVersion,
    Experiment,
    Task,
    TaskEvaluator,
)
from evalplane.domains import common
from evalplane.domains.access.principal import Principal
from evalplane.domains.ai_integrations import service as ai_integrations
from evalplane.domains.datasets.record_filter import check_record_filter
from evalplane.domains.tasks.inputs import CODE_EVALUATION, TEMPLATE_EVALUATION, EvaluatorSpec
from evalplane.filters import check_filter
from evalplane.filters.scopes import parse_query_filters

# Which evaluator kind each evaluation task type runs.
EVALUATOR_KIND_FOR = {TEMPLATE_EVALUATION: "TEMPLATE", CODE_EVALUATION: "CODE"}
EXPERIMENT_TYPES = ("LLM_GENERATION", "TEMPLATE_EVALUATION", "AGENT_CALL")


def clean_name(name: str | None, field: str = "name") -> str:
    if name is None:
        raise InvalidInput(f"'{field}' is required.", field=field)
    return common.clean_name(name, field)


async def ensure_name_free(session: AsyncSession, space_id: int, name: str, exclude: int | None = None) -> None:
    taken = f"A task named '{name}' already exists in this space."
    await common.ensure_name_free(
        session, Task.id, Task.name, name, Task.space_id == space_id, exclude=exclude, taken=taken
    )


def reject_fields(sent: Sequence[str], why: str) -> None:
    if sent:
        names = ", ".join(f"'{n}'" for n in sent)
        raise InvalidInput(f"{names} {'is' if len(sent) == 1 else 'are'} not valid {why}.")


# --- filters and their two shapes ------------------------------------------------------


def canonical_query_filters(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Validate the trace/session multi-query shape with the one filter language; an empty filter
    list means none. Ids are stored upper-cased, the expression as sent (stripped)."""
    parsed = parse_query_filters(value)
    if parsed is None or value is None:
        return None
    filters = [
        {"id": query_id, "filter": item["filter"]} for query_id, item in zip(parsed.ids, value["filters"], strict=True)
    ]
    out: dict[str, Any] = {"filters": filters}
    expression = value.get("expression")
    if isinstance(expression, str) and expression.strip():
        out["expression"] = expression.strip()
    return out


def check_shapes(
    query_filter: str | None,
    query_filters: dict[str, Any] | None,
    evaluators: Sequence[EvaluatorSpec],
    on_dataset: bool = False,
) -> None:
    """A task is either span-shaped or trace/session-shaped, never both."""
    if query_filter is not None and query_filters is not None:
        raise InvalidInput("'query_filter' and 'query_filters' are mutually exclusive; send one of them.")
    # Dataset tasks filter experiment runs, whose columns are the runs' own (output, model...).
    check = check_record_filter if on_dataset else check_filter
    check(query_filter, field="query_filter")
    span = query_filter is not None or any(e.span_shaped for e in evaluators)
    trace = query_filters is not None or any(e.trace_shaped for e in evaluators)
    if span and trace:
        raise InvalidInput(
            "The task mixes the span shape ('query_filter', evaluator 'query_filter' / 'column_mappings') "
            "with the trace/session shape ('query_filters', evaluator 'query_mappings'); use one."
        )
    declared = {f["id"] for f in (query_filters or {}).get("filters", [])}
    for index, spec in enumerate(evaluators):
        if spec.query_filter is not None and spec.query_mappings is not None:
            raise InvalidInput(f"'evaluators[{index}]' mixes 'query_filter' with 'query_mappings'.")
        check(spec.query_filter, field=f"evaluators[{index}].query_filter")
        for mapping in spec.query_mappings or []:
            unknown = [q for q in mapping.get("query_ids", []) if q not in declared]
            if unknown:
                raise InvalidInput(
                    f"'evaluators[{index}].query_mappings' refers to query ids {', '.join(unknown)} "
                    "that 'query_filters' does not declare."
                )


def canonical_query_mappings(mappings: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if mappings is None:
        return None
    return [
        {
            "variable_name": m["variable_name"],
            "query_ids": [str(q).strip().upper() for q in m.get("query_ids", [])],
            "attribute_path": m["attribute_path"],
        }
        for m in mappings
    ]


# --- evaluators -----------------------------------------------------------------------


async def build_evaluator_links(
    session: AsyncSession, principal: Principal, task_type: str, space_id: int, specs: Sequence[EvaluatorSpec]
) -> list[TaskEvaluator]:
    """Resolve and check every evaluator; return unsaved links in the caller's order."""
    if not specs:
        raise InvalidInput("'evaluators' must list at least one evaluator.", field="evaluators")
    ids = [s.evaluator_id for s in specs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise InvalidInput("'evaluators' lists the same evaluator more than once.", field="evaluators")
    found = {e.id: e for e in (await session.scalars(select(Evaluator).where(Evaluator.id.in_(ids)))).all()}
    version_ids = [s.evaluator_version_id for s in specs if s.evaluator_version_id is not None]
    versions = {}
    if version_ids:
        rows = await session.scalars(select(EvaluatorVersion).where(EvaluatorVersion.id.in_(version_ids)))
        versions = {v.id: v for v in rows.all()}
    wanted_kind = EVALUATOR_KIND_FOR[task_type]
    links = []
    for position, spec in enumerate(specs):
        evaluator = found.get(spec.evaluator_id)
        if evaluator is None or not principal.can_see(evaluator.space_id):
            raise NotFound(f"Evaluator in 'evaluators[{position}]' was not found.")
        if evaluator.space_id != space_id:
            raise Unprocessable(
                f"Evaluator '{evaluator.name}' belongs to another space; a task can only use evaluators of its own space."
            )
        if evaluator.type != wanted_kind:
            raise Unprocessable(
                f"Evaluator '{evaluator.name}' is a {evaluator.type.lower()} evaluator; "
                f"{task_type.lower()} tasks need {wanted_kind.lower()} evaluators."
            )
        if spec.evaluator_version_id is not None:
            version = versions.get(spec.evaluator_version_id)
            if version is None or version.evaluator_id != evaluator.id:
                raise Unprocessable(
                    f"'evaluators[{position}].evaluator_version_id' is not a version of evaluator '{evaluator.name}'."
                )
        links.append(
            TaskEvaluator(
                position=position,
                evaluator_id=spec.evaluator_id,
                evaluator_version_id=spec.evaluator_version_id,
                query_filter=spec.query_filter,
                column_mappings=spec.column_mappings,
                query_mappings=canonical_query_mappings(spec.query_mappings),
            )
        )
    return links


def specs_of(links: Sequence[TaskEvaluator]) -> list[EvaluatorSpec]:
    return [
        EvaluatorSpec(
            evaluator_id=link.evaluator_id,
            evaluator_version_id=link.evaluator_version_id,
            query_filter=link.query_filter,
            column_mappings=link.column_mappings,
            query_mappings=link.query_mappings,
        )
        for link in links
    ]


def normalise_specs(specs: Sequence[EvaluatorSpec]) -> list[EvaluatorSpec]:
    """Upper-case query ids so shape checks compare like with like."""
    return [
        EvaluatorSpec(
            evaluator_id=s.evaluator_id,
            evaluator_version_id=s.evaluator_version_id,
            query_filter=s.query_filter,
            column_mappings=s.column_mappings,
            query_mappings=canonical_query_mappings(s.query_mappings),
        )
        for s in specs
    ]


# --- experiments ----------------------------------------------------------------------


async def check_experiments(
    session: AsyncSession, principal: Principal, dataset_id: int, ids: Sequence[int]
) -> list[int]:
    """Every id is a visible experiment of ``dataset_id``; returns them de-duplicated, in order."""
    unique = list(dict.fromkeys(ids))
    if not unique:
        return []
    rows = {e.id: e for e in (await session.scalars(select(Experiment).where(Experiment.id.in_(unique)))).all()}
    for experiment_id in unique:
        experiment = rows.get(experiment_id)
        if experiment is None or not principal.can_see(experiment.space_id):
            raise NotFound("An experiment in 'experiment_ids' was not found.")
        if experiment.dataset_id != dataset_id:
            raise Unprocessable(f"Experiment '{experiment.name}' does not belong to the task's dataset.")
    return unique


# --- run configurations ---------------------------------------------------------------


async def check_run_configuration(
    session: AsyncSession, principal: Principal, space_id: int, config: dict[str, Any] | None
) -> dict[str, Any]:
    """The config arrives canonical (ids as numbers, enums upper-case); check what it points at."""
    if config is None:
        raise InvalidInput("'run_configuration' is required for run_experiment tasks.", field="run_configuration")
    experiment_type = config.get("experiment_type")
    if experiment_type == "AGENT_CALL":
        raise Unprocessable(
            "Run configurations of experiment_type 'agent_call' are not supported: this server has no agent "
            "integrations. Use 'llm_generation' or 'template_evaluation'."
        )
    if experiment_type not in ("LLM_GENERATION", "TEMPLATE_EVALUATION"):
        raise InvalidInput(
            "'run_configuration.experiment_type' must be llm_generation or template_evaluation.",
            field="run_configuration",
        )
    await _check_integration_usable(session, principal, space_id, config["ai_integration_id"])
    version_id = config.get("evaluator_version_id")
    if version_id is not None:
        row = await session.execute(
            select(EvaluatorVersion.id, Evaluator.space_id)
            .join(Evaluator, Evaluator.id == EvaluatorVersion.evaluator_id)
            .where(EvaluatorVersion.id == version_id)
        )
        found = row.first()
        if found is None or not principal.can_see(found.space_id):
            raise NotFound("The evaluator version in 'run_configuration.evaluator_version_id' was not found.")
        if found.space_id != space_id:
            raise Unprocessable("'run_configuration.evaluator_version_id' belongs to an evaluator of another space.")
    return config


async def _check_integration_usable(
    session: AsyncSession, principal: Principal, space_id: int, integration_id: int
) -> None:
    """The caller sees it and it is usable in this space; otherwise it does not exist for them."""
    try:
        await ai_integrations.usable_in_space(session, principal, integration_id, space_id)
    except NotFound:
        raise NotFound(
            "The AI integration in 'run_configuration.ai_integration_id' was not found in this task's space."
        ) from None
