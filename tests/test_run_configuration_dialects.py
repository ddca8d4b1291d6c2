"""A stored run configuration is rendered per dialect: the seed sees exactly the keys it declares
(and null for a configuration it cannot express), the current SDK sees everything stored."""

from __future__ import annotations

from typing import Any

from evalplane.core.ids import Kind, decode_id
from tests import arrange
from tests.arrange import TaskSpec
from tests.support import Api, Server, unique

CURRENT = {"X-Evalplane-Dialect": "current"}


def stored_with_extras(integration_number: int) -> dict[str, Any]:
    """An LLM generation config as stored, with keys at every level that the seed does not declare."""
    return {
        "experiment_type": "LLM_GENERATION",
        "ai_integration_id": integration_number,
        "model_name": "gpt-4o",
        "messages": [
            {"role": "SYSTEM", "content": "Be brief.", "name": "sys", "cache_control": {"type": "ephemeral"}},
            {
                "role": "ASSISTANT",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "FUNCTION",
                        "function": {"name": "f", "arguments": "{}", "extra": 1},
                        "index": 0,
                    }
                ],
            },
        ],
        "input_variable_format": "MUSTACHE",
        "invocation_parameters": {
            "temperature": 0.1,
            "seed": 7,  # InvocationParams is open in the seed: kept
            "response_format": {
                "type": "JSON_SCHEMA",
                "json_schema": {"name": "out", "schema": {}, "format": "x"},
                "mode": "y",
            },
            "tool_config": {"tools": [], "tool_choice": "auto", "parallel": True},
        },
        "provider_parameters": {"region": "eu"},
        "prompt_version_id": None,
        "agent_timeout_s": 30,  # top level: not declared by the seed
        "input_template": {"q": "{question}"},
    }


def test_seed_dialect_shows_only_declared_keys_and_current_shows_all(server: Server, api: Api, http) -> None:
    space = api.space()
    data = arrange.dataset(api, space["id"])
    integration = arrange.ai_integration(api)
    number = decode_id(Kind.AI_INTEGRATION, integration)
    task_id = arrange.insert_task(
        server,
        TaskSpec(
            space["id"],
            unique("rx"),
            "RUN_EXPERIMENT",
            dataset_id=data.id,
            run_configuration=stored_with_extras(number),
        ),
    )

    seed = http.get(f"/v2/tasks/{task_id}").json()["run_configuration"]
    assert seed == {
        "experiment_type": "llm_generation",
        "ai_integration_id": integration,
        "model_name": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            },
        ],
        "input_variable_format": "mustache",
        "invocation_parameters": {
            "temperature": 0.1,
            "seed": 7,
            "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": {}}},
            "tool_config": {"tools": [], "tool_choice": "auto"},
        },
        "provider_parameters": {"region": "eu"},
        "prompt_version_id": None,
    }
    listed = http.get("/v2/tasks", params={"space_id": space["id"]}).json()["tasks"]
    assert [t["run_configuration"] for t in listed] == [seed]

    current = http.get(f"/v2/tasks/{task_id}", headers=CURRENT).json()["run_configuration"]
    assert current["experiment_type"] == "LLM_GENERATION"
    assert current["ai_integration_id"] == integration
    assert current["agent_timeout_s"] == 30 and current["input_template"] == {"q": "{question}"}
    assert current["messages"][0]["name"] == "sys"
    assert current["messages"][1]["tool_calls"][0]["type"] == "FUNCTION"
    assert current["invocation_parameters"]["response_format"]["type"] == "JSON_SCHEMA"
    assert current["invocation_parameters"]["tool_config"]["parallel"] is True
    # The SDK parses what the current dialect sends.
    assert server.sdk().tasks.get(task=task_id).run_configuration is not None


def test_agent_call_config_is_null_in_the_seed_dialect(server: Server, api: Api, http) -> None:
    space = api.space()
    data = arrange.dataset(api, space["id"])
    config = {"experiment_type": "AGENT_CALL", "integration_id": 5, "input_template": {"q": "{question}"}}
    task_id = arrange.insert_task(
        server, TaskSpec(space["id"], unique("agent"), "RUN_EXPERIMENT", dataset_id=data.id, run_configuration=config)
    )
    seed = http.get(f"/v2/tasks/{task_id}").json()
    assert seed["type"] == "run_experiment" and seed["run_configuration"] is None
    listed = http.get("/v2/tasks", params={"space_id": space["id"]}).json()["tasks"]
    assert [t["run_configuration"] for t in listed] == [None]
    current = http.get(f"/v2/tasks/{task_id}", headers=CURRENT).json()["run_configuration"]
    assert current == {"experiment_type": "AGENT_CALL", "integration_id": 5, "input_template": {"q": "{question}"}}
