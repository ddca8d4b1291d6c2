"""Task and task-run wire shapes for both dialects."""

from __future__ import annotations

from typing import Any

from evalplane.api.dialect import Dialect
from evalplane.core.clock import isoformat
from evalplane.core.ids import Kind, encode_id
from evalplane.domains.tasks.repository import TaskView

# Enum-valued keys inside a stored run configuration, rendered per dialect.
_RUN_CONFIG_ENUMS = ("experiment_type", "input_variable_format")


def _opt_id(kind: Kind, value: int | None) -> str | None:
    return None if value is None else encode_id(kind, value)


def run_configuration(config: dict[str, Any] | None, dialect: Dialect) -> dict[str, Any] | None:
    """Stored configs keep ids as numbers and enums upper-case; render them for the wire."""
    if config is None:
        return None
    out = dict(config)
    for key in _RUN_CONFIG_ENUMS:
        if isinstance(out.get(key), str):
            out[key] = dialect.enum(out[key])
    for key, kind in (
        ("ai_integration_id", Kind.AI_INTEGRATION),
        ("evaluator_version_id", Kind.EVALUATOR_VERSION),
    ):
        if isinstance(out.get(key), int):
            out[key] = encode_id(kind, out[key])
    if isinstance(out.get("messages"), list):
        out["messages"] = [_message(m, dialect) for m in out["messages"]]
    return out


def _message(message: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
    out = dict(message)
    if isinstance(out.get("role"), str):
        out["role"] = dialect.enum(out["role"].upper())
    return out


def task(view: TaskView, dialect: Dialect) -> dict[str, Any]:
    t = view.task
    evaluators = []
    for attached in view.evaluators:
        link = attached.link
        item: dict[str, Any] = {
            "evaluator_id": encode_id(Kind.EVALUATOR, link.evaluator_id),
            "evaluator_name": attached.evaluator_name,
        }
        if dialect.current:
            item["evaluator_version_id"] = _opt_id(Kind.EVALUATOR_VERSION, link.evaluator_version_id)
        item["query_filter"] = link.query_filter
        item["column_mappings"] = link.column_mappings
        if dialect.current:
            item["query_mappings"] = link.query_mappings
        evaluators.append(item)
    body: dict[str, Any] = {
        "id": encode_id(Kind.TASK, t.id),
        "name": t.name,
        "type": dialect.enum(t.type),
        "project_id": _opt_id(Kind.PROJECT, t.project_id),
        "dataset_id": _opt_id(Kind.DATASET, t.dataset_id),
        "sampling_rate": t.sampling_rate,
        "is_continuous": t.is_continuous,
        "query_filter": t.query_filter,
    }
    if dialect.current:
        body["query_filters"] = t.query_filters
    body.update(
        {
            "evaluators": evaluators,
            "experiment_ids": [encode_id(Kind.EXPERIMENT, e) for e in (t.experiment_ids or [])],
            "run_configuration": run_configuration(t.run_configuration, dialect),
            "last_run_at": isoformat(t.last_run_at),
            "created_at": isoformat(t.created_at),
            "updated_at": isoformat(t.updated_at),
            "created_by_user_id": _opt_id(Kind.USER, t.created_by_user_id),
        }
    )
    return body
