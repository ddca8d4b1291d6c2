"""Arranging what the engine runs: an AI integration that calls the local judge server, the
evaluators and tasks that use it (tasks and datasets made through the SDK, as a user would), and
the space they share (``EngineWorld``, the ``engine_world`` fixture)."""

from __future__ import annotations

from typing import Any, NamedTuple

from tests.arrange import span_evaluator
from tests.support import Api, LlmServer, Server, unique

CHOICES = {"correct": 1, "incorrect": 0}


def integration(api: Api, space_id: str, llm: LlmServer, *, key: str = "sk-local") -> dict[str, Any]:
    """An OpenAI-compatible AI integration, limited to one space, that calls the local judge server."""
    body = {
        "name": unique("judge"),
        "provider": "OPEN_AI",
        "api_key": key,
        "base_url": llm.openai_base_url,
        "scopings": [{"space_id": space_id}],
    }
    return api.ok(api.client.post("/v2/ai-integrations", json=body), 201)


def template_evaluator(
    api: Api,
    space_id: str,
    integration_id: str,
    *,
    name: str = "correctness",
    explain: bool = True,
    scope: str = "SPAN",
) -> dict[str, Any]:
    """A judge asking whether {output} answers {input}, choosing from ``CHOICES``, at ``scope``."""
    body = {
        "space_id": space_id,
        "name": unique("ev"),
        "type": "TEMPLATE",
        "version": {
            "commit_message": "first",
            "template_config": {
                "name": name,
                "template": "Question: {input}\nAnswer: {output}\nIs the answer correct?",
                "include_explanations": explain,
                "use_function_calling": True,
                "classification_choices": CHOICES,
                "data_granularity": scope,
                "llm_config": {
                    "ai_integration_id": integration_id,
                    "model_name": "judge-1",
                    "invocation_parameters": {"temperature": 0},
                    "provider_parameters": {},
                },
            },
        },
    }
    return api.ok(api.client.post("/v2/evaluators", json=body), 201)


def code_evaluator(api: Api, space_id: str, code_config: dict[str, Any]) -> dict[str, Any]:
    """A CODE evaluator (managed or custom) with one version holding ``code_config``."""
    body = {
        "space_id": space_id,
        "name": unique("code"),
        "type": "CODE",
        "version": {"commit_message": "first", "code_config": code_config},
    }
    return api.ok(api.client.post("/v2/evaluators", json=body), 201)


def task_with(
    client: Any, project_id: str, evaluator_id: str, *, task_type: str = "TEMPLATE_EVALUATION", **fields: Any
) -> Any:
    """A project evaluation task with one evaluator, created through the SDK ``client``."""
    return client.tasks.create_evaluation_task(
        name=unique("task"),
        task_type=task_type,
        project=project_id,
        evaluators=[span_evaluator(evaluator_id)],
        **fields,
    )


def keyword_evaluator(api: Api, space_id: str, column: str) -> dict[str, Any]:
    """A managed evaluator (no model needed) whose results land in ``eval.<column>``."""
    return code_evaluator(
        api,
        space_id,
        {
            "type": "MANAGED",
            "name": column,
            "managed_evaluator": "CONTAINS_ANY_KEYWORD",
            "variables": ["attributes.output.value"],
            "static_params": [{"name": "keywords", "type": "STRING_ARRAY", "default_value": ["refund"]}],
        },
    )


def dataset_with(client: Any, space_id: str, rows: list[dict[str, Any]]) -> tuple[Any, list[str]]:
    """A dataset of ``rows`` made through the SDK ``client``, and its example ids."""
    dataset = client.datasets.create(name=unique("ds"), space=space_id, examples=rows)
    return dataset, [e.id for e in client.datasets.list_examples(dataset=dataset.id).examples]


def runs_of(client: Any, experiment_id: str) -> list[dict[str, Any]]:
    """An experiment's runs (up to 500) as plain dicts, extra fields included."""
    response = client.experiments.list_runs(experiment=experiment_id, limit=500)
    return [
        {"id": r.id, "example_id": r.example_id, "output": r.output, "error": r.error, **r.additional_properties}
        for r in response.experiment_runs
    ]


class EngineWorld(NamedTuple):
    """A space on the engine server with an AI integration that calls the local judge."""

    server: Server
    api: Api
    space: dict[str, Any]
    judge: dict[str, Any]
