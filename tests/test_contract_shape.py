"""GET /v2/tasks returns exactly the seed's shapes, or the current SDK's when asked for."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest
import yaml
from arize.tasks.types import LlmGenerationRunConfig, TaskType, TemplateEvaluationRunConfig

from evalplane.core.ids import Kind, decode_id
from tests.arrange import Populated, populate_space, seed_spec
from tests.support import Api, Server

SDK_HEADERS = {"sdk-package-name": "arize", "sdk-version": "8.61.0"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# What the current SDK knows beyond the seed.
CURRENT_TASK_EXTRAS = {"query_filters"}
CURRENT_EVALUATOR_EXTRAS = {"evaluator_version_id", "query_mappings"}


@cache
def seed_schemas() -> dict[str, Any]:
    return yaml.safe_load(seed_spec().read_text())["components"]["schemas"]


def seed_keys(schema: str) -> set[str]:
    return set(seed_schemas()[schema]["properties"])


@pytest.fixture(scope="module")
def populated(server: Server) -> Populated:
    """One space with a task of every shape, shared read-only by this module's tests."""
    with server.http() as client:
        return populate_space(server, Api(client))


def list_tasks(server: Server, space_id: str, **headers: str) -> dict[str, Any]:
    with server.http(**headers) as client:
        response = client.get("/v2/tasks", params={"space_id": space_id})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in body["tasks"]}


def test_seed_dialect_returns_exactly_the_seed_fields(server: Server, populated: Populated) -> None:
    body = list_tasks(server, populated.space["id"])
    assert set(body) == {"tasks", "pagination"}
    assert body["pagination"] == {"has_more": False}
    assert len(body["tasks"]) == 5
    required = set(seed_schemas()["Task"]["required"])
    for task in body["tasks"]:
        # Every declared property is present (nullable ones as null), and nothing else.
        assert set(task) == seed_keys("Task"), task["name"]
        assert required <= set(task)
        for attached in task["evaluators"]:
            assert set(attached) == seed_keys("TaskEvaluator")
        for stamp in ("created_at", "updated_at"):
            assert TIMESTAMP.match(task[stamp])
        assert task["last_run_at"] is None or TIMESTAMP.match(task["last_run_at"])
        assert decode_id(Kind.TASK, task["id"]) > 0
        assert task["type"] in seed_schemas()["TaskType"]["enum"]


def test_seed_dialect_values_and_lower_case_enums(server: Server, populated: Populated) -> None:
    tasks = by_name(list_tasks(server, populated.space["id"]))
    project, dataset = populated.project_ids[0], populated.dataset_ids[0]

    live = tasks["Production hallucination check"]
    assert live["type"] == "template_evaluation"
    assert (live["project_id"], live["dataset_id"]) == (project, None)
    assert live["sampling_rate"] == 0.25 and live["is_continuous"] is True
    assert live["query_filter"] == "status_code = 'OK'"
    assert live["run_configuration"] is None and live["experiment_ids"] == []
    assert TIMESTAMP.match(live["last_run_at"])
    assert decode_id(Kind.USER, live["created_by_user_id"]) > 0
    assert live["evaluators"] == [
        {
            "evaluator_id": populated.evaluator_ids[0],
            "evaluator_name": "Hallucination judge",
            "query_filter": "span_kind = 'LLM'",
            "column_mappings": {"input": "attributes.input.value", "output": "attributes.output.value"},
        }
    ]

    backfill = tasks["Backfill judge"]
    assert backfill["last_run_at"] is None and backfill["query_filter"] is None
    assert backfill["evaluators"][0]["column_mappings"] is None

    code = tasks["JSON output check"]
    assert code["type"] == "code_evaluation"
    assert (code["project_id"], code["dataset_id"], code["sampling_rate"]) == (None, dataset, None)
    assert code["experiment_ids"] == populated.experiment_ids
    assert [e["evaluator_name"] for e in code["evaluators"]] == ["Is JSON", "Hallucination judge"]
    assert code["created_by_user_id"] is None

    generate = tasks["Generate answers"]
    assert generate["type"] == "run_experiment" and generate["evaluators"] == []
    config = generate["run_configuration"]
    assert set(config) <= seed_keys("LlmGenerationRunConfig")
    assert set(seed_schemas()["LlmGenerationRunConfig"]["required"]) <= set(config)
    assert config["experiment_type"] == "llm_generation"
    assert config["input_variable_format"] == "f_string"
    assert [m["role"] for m in config["messages"]] == ["system", "user"]
    assert decode_id(Kind.AI_INTEGRATION, config["ai_integration_id"]) > 0

    judge = tasks["Judge dataset"]["run_configuration"]
    assert set(judge) <= seed_keys("TemplateEvaluationRunConfig")
    assert set(seed_schemas()["TemplateEvaluationRunConfig"]["required"]) <= set(judge)
    assert judge["experiment_type"] == "template_evaluation"
    assert judge["classification_choices"] == {"correct": 1, "incorrect": 0}


def test_seed_pagination_has_next_cursor_only_while_more(server: Server, populated: Populated) -> None:
    with server.http() as client:
        first = client.get("/v2/tasks", params={"space_id": populated.space["id"], "limit": 3}).json()
        assert set(first["pagination"]) == {"has_more", "next_cursor"} and first["pagination"]["has_more"] is True
        second = client.get(
            "/v2/tasks",
            params={"space_id": populated.space["id"], "limit": 3, "cursor": first["pagination"]["next_cursor"]},
        ).json()
    assert second["pagination"] == {"has_more": False}
    assert len(first["tasks"]) == 3 and len(second["tasks"]) == 2


@pytest.mark.parametrize(
    "headers",
    [
        SDK_HEADERS,
        {"X-Evalplane-Dialect": "current"},
        {"sdk-package-name": "@arizeai/ax-client", "sdk-version": "1.25.0"},
    ],
    ids=["arize-8.61", "explicit-header", "ax-client"],
)
def test_current_dialect_is_upper_case_with_the_sdk_fields(
    server: Server, populated: Populated, headers: dict[str, str]
) -> None:
    tasks = by_name(list_tasks(server, populated.space["id"], **headers))
    for task in tasks.values():
        assert set(task) == seed_keys("Task") | CURRENT_TASK_EXTRAS
        assert task["query_filters"] is None
        assert task["type"] in {"TEMPLATE_EVALUATION", "CODE_EVALUATION", "RUN_EXPERIMENT"}
        for attached in task["evaluators"]:
            assert set(attached) == seed_keys("TaskEvaluator") | CURRENT_EVALUATOR_EXTRAS
            assert attached["evaluator_version_id"] is None and attached["query_mappings"] is None
    generate = tasks["Generate answers"]["run_configuration"]
    assert generate["experiment_type"] == "LLM_GENERATION" and generate["input_variable_format"] == "F_STRING"
    assert [m["role"] for m in generate["messages"]] == ["SYSTEM", "USER"]
    assert tasks["Judge dataset"]["run_configuration"]["experiment_type"] == "TEMPLATE_EVALUATION"


@pytest.mark.parametrize(
    "headers",
    [
        {"sdk-package-name": "arize", "sdk-version": "8.39.2"},
        {"sdk-package-name": "something-else", "sdk-version": "9.0.0"},
        {"X-Evalplane-Dialect": "seed"},
        {**SDK_HEADERS, "X-Evalplane-Dialect": "seed"},
    ],
    ids=["old-arize", "other-package", "explicit-seed", "explicit-seed-wins"],
)
def test_other_clients_get_the_seed_dialect(server: Server, populated: Populated, headers: dict[str, str]) -> None:
    for task in list_tasks(server, populated.space["id"], **headers)["tasks"]:
        assert set(task) == seed_keys("Task")
        assert task["type"].islower()


def test_sdk_lists_and_parses_every_task_type(server: Server, populated: Populated) -> None:
    client = server.sdk()
    listed = client.tasks.list(space=populated.space["id"])
    assert listed.pagination.has_more is False and listed.pagination.next_cursor is None
    tasks = {t.name: t for t in listed.tasks}
    assert set(tasks) == set(populated.task_ids)
    assert {t.id for t in listed.tasks} == set(populated.task_ids.values())

    live = tasks["Production hallucination check"]
    assert live.type == TaskType.TEMPLATE_EVALUATION and live.is_continuous is True
    assert live.project_id == populated.project_ids[0] and live.sampling_rate == 0.25
    assert live.last_run_at is not None and live.last_run_at.tzinfo is not None
    assert live.evaluators[0].evaluator_name == "Hallucination judge"
    assert live.evaluators[0].column_mappings == {
        "input": "attributes.input.value",
        "output": "attributes.output.value",
    }
    assert tasks["Backfill judge"].last_run_at is None

    code = tasks["JSON output check"]
    assert code.type == TaskType.CODE_EVALUATION and code.experiment_ids == populated.experiment_ids

    generate = tasks["Generate answers"].run_configuration
    assert isinstance(generate, LlmGenerationRunConfig)
    assert generate.messages[1].role == "USER" and generate.input_variable_format == "F_STRING"
    judge = tasks["Judge dataset"].run_configuration
    assert isinstance(judge, TemplateEvaluationRunConfig) and judge.provide_explanation is True


def test_sdk_filters_by_type_project_dataset_and_name(server: Server, populated: Populated) -> None:
    client = server.sdk()
    space = populated.space["id"]

    def names(**filters: Any) -> set[str]:
        return {t.name for t in client.tasks.list(space=space, **filters).tasks}

    assert names(task_type="RUN_EXPERIMENT") == {"Generate answers", "Judge dataset"}
    assert names(task_type=TaskType.CODE_EVALUATION) == {"JSON output check"}
    assert names(project=populated.project_ids[0]) == {"Production hallucination check", "Backfill judge"}
    assert names(dataset=populated.dataset_ids[0]) == {"JSON output check", "Generate answers", "Judge dataset"}
    assert names(name="JUDGE") == {"Backfill judge", "Judge dataset"}
    # A space given by name is a case-insensitive substring filter on the space name.
    by_space_name = client.tasks.list(space=populated.space["name"].upper()).tasks
    assert {t.name for t in by_space_name} == set(populated.task_ids)
