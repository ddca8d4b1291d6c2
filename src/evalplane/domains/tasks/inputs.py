"""What callers ask of the tasks domain, with ids already decoded to row numbers.

The API edge builds these from request bodies; the domain never sees wire models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TEMPLATE_EVALUATION = "TEMPLATE_EVALUATION"
CODE_EVALUATION = "CODE_EVALUATION"
RUN_EXPERIMENT = "RUN_EXPERIMENT"
TASK_TYPES = (TEMPLATE_EVALUATION, CODE_EVALUATION, RUN_EXPERIMENT)
EVALUATION_TYPES = (TEMPLATE_EVALUATION, CODE_EVALUATION)


@dataclass(frozen=True, slots=True)
class EvaluatorSpec:
    """One evaluator to attach. Span shape: query_filter/column_mappings; trace shape: query_mappings."""

    evaluator_id: int
    evaluator_version_id: int | None = None
    query_filter: str | None = None
    column_mappings: dict[str, str] | None = None
    query_mappings: list[dict[str, Any]] | None = None

    @property
    def span_shaped(self) -> bool:
        return self.query_filter is not None or self.column_mappings is not None

    @property
    def trace_shaped(self) -> bool:
        return self.query_mappings is not None


@dataclass(frozen=True, slots=True)
class NewTask:
    """A create request. ``None`` means the caller did not send the field."""

    name: str
    type: str
    project_id: int | None = None
    dataset_id: int | None = None
    experiment_ids: list[int] | None = None
    sampling_rate: float | None = None
    is_continuous: bool | None = None
    query_filter: str | None = None
    query_filters: dict[str, Any] | None = None
    evaluators: list[EvaluatorSpec] | None = None
    run_configuration: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class TaskChanges:
    """A partial update. Only names in ``provided`` were sent; a provided ``None`` clears."""

    provided: frozenset[str]
    name: str | None = None
    sampling_rate: float | None = None
    is_continuous: bool | None = None
    query_filter: str | None = None
    query_filters: dict[str, Any] | None = None
    evaluators: list[EvaluatorSpec] | None = None
    run_configuration: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RunRequest:
    """A trigger request. Fields left ``None`` were not sent (or sent as null)."""

    # Evaluation tasks
    data_start_time: Any = None
    data_end_time: Any = None
    max_spans: int | None = None
    override_evaluations: bool | None = None
    experiment_ids: list[int] | None = None
    # RUN_EXPERIMENT tasks
    experiment_name: str | None = None
    dataset_version_id: int | None = None
    example_ids: list[int] | None = None
    max_examples: int | None = None
    query_filter: str | None = None
    tracing_metadata: dict[str, str] | None = None
    evaluation_task_ids: list[int] | None = None

    EVALUATION_FIELDS = ("data_start_time", "data_end_time", "max_spans", "override_evaluations", "experiment_ids")
    EXPERIMENT_FIELDS = (
        "experiment_name",
        "dataset_version_id",
        "example_ids",
        "max_examples",
        "query_filter",
        "tracing_metadata",
        "evaluation_task_ids",
    )

    def sent(self, names: tuple[str, ...]) -> list[str]:
        return [n for n in names if getattr(self, n) is not None]
