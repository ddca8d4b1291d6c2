"""Evaluator wire shapes, rendered from the normalized stored configurations."""

from __future__ import annotations

from typing import Any

from evalplane.api.dialect import Dialect
from evalplane.core.clock import isoformat
from evalplane.core.ids import Kind, encode_id
from evalplane.db.models import Evaluator, EvaluatorVersion
from evalplane.domains.evaluators.catalogue import CatalogueTemplate
from evalplane.domains.evaluators.service import EvaluatorView


def _opt_id(kind: Kind, value: int | None) -> str | None:
    return None if value is None else encode_id(kind, value)


def evaluator(row: Evaluator, dialect: Dialect) -> dict[str, Any]:
    return {
        "id": encode_id(Kind.EVALUATOR, row.id),
        "name": row.name,
        "description": row.description,
        "type": dialect.enum(row.type),
        "space_id": encode_id(Kind.SPACE, row.space_id),
        "created_at": isoformat(row.created_at),
        "updated_at": isoformat(row.updated_at),
        "created_by_user_id": _opt_id(Kind.USER, row.created_by_user_id),
    }


def evaluator_with_version(view: EvaluatorView, dialect: Dialect) -> dict[str, Any]:
    return {**evaluator(view.evaluator, dialect), "version": version(view.version, dialect)}


def _invocation_parameters(params: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
    out = dict(params)
    response_format = out.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type"):
        out["response_format"] = {**response_format, "type": dialect.enum(response_format["type"])}
    return out


def template_config(config: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
    llm = config["llm"]
    return {
        "name": config["name"],
        "template": config["template"],
        "include_explanations": config["include_explanations"],
        "use_function_calling": config["use_function_calling"],
        "use_structured_output": config["use_structured_output"],
        "classification_choices": config["classification_choices"],
        "direction": dialect.enum(config["direction"]),
        "data_granularity": dialect.enum(config["data_granularity"]),
        "llm_config": {
            "ai_integration_id": encode_id(Kind.AI_INTEGRATION, llm["ai_integration_id"]),
            "model_name": llm["model_name"],
            "invocation_parameters": _invocation_parameters(llm["invocation_parameters"], dialect),
            "provider_parameters": llm["provider_parameters"],
        },
    }


def code_config(config: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": dialect.enum(config["code_type"]),
        "name": config["name"],
    }
    if config["code_type"] == "MANAGED":
        body["managed_evaluator"] = dialect.enum(config["managed_evaluator"])
    else:
        body["code"] = config["code"]
        body["imports"] = config["imports"]
    body.update(
        {
            "variables": config["variables"],
            "static_params": [
                {"name": p["name"], "type": dialect.enum(p["type"]), "default_value": p["default_value"]}
                for p in config["static_params"]
            ],
            "data_granularity": dialect.enum(config["data_granularity"]),
            "query_filter": config["query_filter"],
        }
    )
    return body


def version(row: EvaluatorVersion, dialect: Dialect) -> dict[str, Any]:
    config = row.config
    body: dict[str, Any] = {
        "id": encode_id(Kind.EVALUATOR_VERSION, row.id),
        "evaluator_id": encode_id(Kind.EVALUATOR, row.evaluator_id),
        "commit_hash": row.commit_hash,
        "commit_message": row.commit_message,
        "created_at": isoformat(row.created_at),
        "created_by_user_id": _opt_id(Kind.USER, row.created_by_user_id),
        "type": dialect.enum(config["type"]),
    }
    if config["type"] == "TEMPLATE":
        body["template_config"] = template_config(config, dialect)
    else:
        body["code_config"] = code_config(config, dialect)
    return body


def catalogue_template(entry: CatalogueTemplate, dialect: Dialect) -> dict[str, Any]:
    return {
        "column_name": entry.column_name,
        "display_name": entry.display_name,
        "template": entry.template,
        "rails": entry.rails,
        "classification_choices": entry.classification_choices,
        "direction": dialect.enum(entry.direction),
        "data_granularity": dialect.enum(entry.data_granularity),
    }
