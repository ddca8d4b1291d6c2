"""Tasks through the official arize SDK (current dialect) and raw HTTP (seed dialect, bad input)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from arize._generated.api_client.exceptions import ApiException
from arize._generated.api_client.models import TaskEvaluatorInput, TraceOrSessionEvaluatorInput
from arize.tasks.types import TaskQueryFilter, TaskQueryFilters

from tests import arrange
from tests.arrange import World, assert_problem, make_world, project_task_body, span_evaluator
from tests.support import Api, Server, unique

SEED_SPEC = Path("/work/shared/spec/seed_list_tasks.openapi.yaml")
CURRENT = {"X-Evalplane-Dialect": "current"}


@pytest.fixture(scope="module")
def shared_world(server: Server) -> World:
    """For tests that only read the world (e.g. rejected creates), built once per database."""
    with server.http() as client:
        return make_world(Api(client))


# --- create ----------------------------------------------------------------------------


def test_sdk_creates_project_evaluation_task_with_defaults(server: Server, world: World) -> None:
    client = server.sdk()
    task = client.tasks.create_evaluation_task(
        name="hallucination",
        task_type="TEMPLATE_EVALUATION",
        project=world.project["id"],
        evaluators=[
            span_evaluator(
                world.template_eval.id,
                query_filter="span_kind = 'LLM'",
                column_mappings={"input": "attributes.input.value"},
            )
        ],
        is_continuous=True,
        query_filter="status_code = 'OK'",
    )
    assert task.type == "TEMPLATE_EVALUATION"
    assert task.project_id == world.project["id"] and task.dataset_id is None
    assert task.sampling_rate == 1.0 and task.is_continuous is True
    assert task.query_filter == "status_code = 'OK'"
    assert task.run_configuration is None and task.last_run_at is None
    assert task.created_by_user_id is not None
    [attached] = task.evaluators
    assert attached.evaluator_id == world.template_eval.id
    assert attached.evaluator_name == world.template_eval.name
    assert attached.evaluator_version_id is None  # runs the latest version
    assert attached.query_filter == "span_kind = 'LLM'"
    assert attached.column_mappings == {"input": "attributes.input.value"}


def test_sdk_creates_dataset_code_task_with_experiments_and_pinned_version(
    server: Server, world: World, api: Api
) -> None:
    pinned = arrange.evaluator(api, world.space["id"], kind="CODE", versions=2)
    task = server.sdk().tasks.create_evaluation_task(
        name=unique("ds-task"),
        task_type="CODE_EVALUATION",
        dataset=world.dataset.id,
        experiment_ids=[world.experiment_id],
        evaluators=[span_evaluator(pinned.id, evaluator_version_id=pinned.version_ids[0])],
    )
    assert task.type == "CODE_EVALUATION"
    assert task.dataset_id == world.dataset.id and task.project_id is None
    assert task.sampling_rate is None and task.is_continuous is False
    assert task.experiment_ids == [world.experiment_id]
    assert task.evaluators[0].evaluator_version_id == pinned.version_ids[0]


def test_sdk_creates_run_experiment_task_and_stores_config_canonically(server: Server, world: World, http) -> None:
    config = arrange.llm_generation_config(world.integration_id)
    task = server.sdk().tasks.create_run_experiment_task(
        name=unique("rx"), dataset=world.dataset.id, run_configuration=config
    )
    assert task.type == "RUN_EXPERIMENT"
    assert task.dataset_id == world.dataset.id
    assert task.evaluators == [] and task.sampling_rate is None and task.is_continuous is False
    rc = task.run_configuration
    assert rc.experiment_type == "LLM_GENERATION"
    assert rc.ai_integration_id == world.integration_id
    assert [m.role for m in rc.messages] == ["SYSTEM", "USER"]
    assert rc.input_variable_format == "F_STRING"
    assert rc.invocation_parameters.response_format.type == "TEXT"
    # The seed dialect renders the same stored config with lower-case enums.
    seed = http.get(f"/v2/tasks/{task.id}").json()["run_configuration"]
    assert seed["experiment_type"] == "llm_generation"
    assert [m["role"] for m in seed["messages"]] == ["system", "user"]
    assert seed["input_variable_format"] == "f_string"
    assert seed["invocation_parameters"]["response_format"]["type"] == "text"
    assert seed["ai_integration_id"] == world.integration_id


def test_run_experiment_task_accepts_lower_case_template_evaluation_config(server: Server, world: World, http) -> None:
    config = {
        "experiment_type": "template_evaluation",
        "ai_integration_id": world.integration_id,
        "template": "Is {output} correct?",
        "provide_explanation": True,
        "classification_choices": {"correct": 1, "incorrect": 0},
        "evaluator_version_id": world.template_eval.version_ids[0],
    }
    body = {"name": unique("rx"), "type": "run_experiment", "dataset_id": world.dataset.id, "run_configuration": config}
    created = http.post("/v2/tasks", json=body, headers=CURRENT)
    assert created.status_code == 201, created.text
    rc = created.json()["run_configuration"]
    assert rc["experiment_type"] == "TEMPLATE_EVALUATION"
    assert rc["evaluator_version_id"] == world.template_eval.version_ids[0]
    assert rc["classification_choices"] == {"correct": 1.0, "incorrect": 0.0}


def test_trace_shape_filters_and_mappings_round_trip(server: Server, world: World, api: Api, http) -> None:
    judge = arrange.evaluator(api, world.space["id"], integration_id=world.integration_id, granularity="TRACE")
    body = project_task_body(
        world,
        query_filters={
            "filters": [{"id": "a", "filter": "span_kind = 'LLM'"}, {"id": "B", "filter": "latency_ms > 5"}],
            "expression": "a and not B",
        },
        evaluators=[
            {
                "evaluator_id": judge.id,
                "query_mappings": [
                    {"variable_name": "input", "query_ids": ["a"], "attribute_path": "attributes.input.value"}
                ],
            }
        ],
    )
    created = http.post("/v2/tasks", json=body, headers=CURRENT)
    assert created.status_code == 201, created.text
    task = created.json()
    assert task["query_filter"] is None
    assert [f["id"] for f in task["query_filters"]["filters"]] == ["A", "B"]
    assert task["evaluators"][0]["query_mappings"][0]["query_ids"] == ["A"]
    fetched = server.sdk().tasks.get(task=task["id"])
    assert fetched.query_filters.filters[1].filter == "latency_ms > 5"
    # The seed dialect declares neither field.
    seed = http.get(f"/v2/tasks/{task['id']}").json()
    assert "query_filters" not in seed and "query_mappings" not in seed["evaluators"][0]


def _cases() -> list[tuple[str, Any, int, str]]:
    """(case, body builder, status, a fragment of the detail)."""
    return [
        ("both sources", lambda w: project_task_body(w, dataset_id=w.dataset.id), 400, "exactly one"),
        (
            "no source",
            lambda w: {k: v for k, v in project_task_body(w).items() if k != "project_id"},
            400,
            "exactly one",
        ),
        (
            "no evaluators",
            lambda w: {k: v for k, v in project_task_body(w).items() if k != "evaluators"},
            400,
            "evaluators",
        ),
        ("empty evaluators", lambda w: project_task_body(w, evaluators=[]), 400, "at least one"),
        (
            "duplicate evaluator",
            lambda w: project_task_body(
                w, evaluators=[{"evaluator_id": w.template_eval.id}, {"evaluator_id": w.template_eval.id}]
            ),
            400,
            "more than once",
        ),
        (
            "code evaluator on template task",
            lambda w: project_task_body(w, evaluators=[{"evaluator_id": w.code_eval.id}]),
            422,
            "template evaluators",
        ),
        (
            "template evaluator on code task",
            lambda w: project_task_body(w, type="CODE_EVALUATION"),
            422,
            "code evaluators",
        ),
        (
            "evaluator not found",
            lambda w: project_task_body(w, evaluators=[{"evaluator_id": "RXZhbHVhdG9yOjk5OTk5OQ=="}]),
            404,
            "evaluator",
        ),
        (
            "malformed evaluator id",
            lambda w: project_task_body(w, evaluators=[{"evaluator_id": "nope"}]),
            404,
            "evaluator_id",
        ),
        (
            "version of another evaluator",
            lambda w: project_task_body(
                w,
                evaluators=[
                    {"evaluator_id": w.template_eval_2.id, "evaluator_version_id": w.template_eval.version_ids[0]}
                ],
            ),
            422,
            "not a version",
        ),
        (
            "sampling on dataset task",
            lambda w: project_task_body(w, project_id=None, dataset_id=w.dataset.id, sampling_rate=0.5),
            400,
            "sampling_rate",
        ),
        (
            "continuous dataset task",
            lambda w: project_task_body(w, project_id=None, dataset_id=w.dataset.id, is_continuous=True),
            400,
            "is_continuous",
        ),
        ("sampling out of range", lambda w: project_task_body(w, sampling_rate=1.5), 400, "sampling_rate"),
        (
            "experiments on project task",
            lambda w: project_task_body(w, experiment_ids=[w.experiment_id]),
            400,
            "experiment_ids",
        ),
        ("unbalanced filter", lambda w: project_task_body(w, query_filter="name = 'x"), 400, "query_filter"),
        (
            "unbalanced evaluator filter",
            lambda w: project_task_body(
                w, evaluators=[{"evaluator_id": w.template_eval.id, "query_filter": "(attributes.a = 1"}]
            ),
            400,
            "query_filter",
        ),
        (
            "both filter shapes",
            lambda w: project_task_body(
                w,
                query_filter="attributes.a = 1",
                query_filters={"filters": [{"id": "A", "filter": "attributes.b = 2"}]},
            ),
            400,
            "mutually exclusive",
        ),
        (
            "mixed evaluator shapes",
            lambda w: project_task_body(
                w,
                query_filters={"filters": [{"id": "A", "filter": "attributes.b = 2"}]},
                evaluators=[{"evaluator_id": w.template_eval.id, "column_mappings": {"x": "y"}}],
            ),
            400,
            "mixes",
        ),
        (
            "undeclared query id",
            lambda w: project_task_body(
                w,
                query_filters={"filters": [{"id": "A", "filter": "attributes.b = 2"}]},
                evaluators=[
                    {
                        "evaluator_id": w.template_eval.id,
                        "query_mappings": [{"variable_name": "x", "query_ids": ["C"], "attribute_path": "a"}],
                    }
                ],
            ),
            400,
            "C",
        ),
        (
            "expression missing",
            lambda w: project_task_body(
                w,
                query_filters={
                    "filters": [{"id": "A", "filter": "attributes.a = 1"}, {"id": "B", "filter": "attributes.b = 2"}]
                },
            ),
            400,
            "expression",
        ),
        (
            "bad query id",
            lambda w: project_task_body(w, query_filters={"filters": [{"id": "Z", "filter": "attributes.a = 1"}]}),
            400,
            "A, B",
        ),
        (
            "run config on evaluation task",
            lambda w: project_task_body(w, run_configuration=arrange.llm_generation_config(w.integration_id)),
            400,
            "run_configuration",
        ),
        ("unknown type", lambda w: project_task_body(w, type="magic"), 400, "type"),
        ("unknown field", lambda w: project_task_body(w, colour="blue"), 400, "colour"),
        (
            "run experiment without config",
            lambda w: {"name": unique("rx"), "type": "RUN_EXPERIMENT", "dataset_id": w.dataset.id},
            400,
            "run_configuration",
        ),
        (
            "run experiment with evaluators",
            lambda w: {
                "name": unique("rx"),
                "type": "RUN_EXPERIMENT",
                "dataset_id": w.dataset.id,
                "run_configuration": arrange.llm_generation_config(w.integration_id),
                "evaluators": [{"evaluator_id": w.template_eval.id}],
            },
            400,
            "evaluators",
        ),
        (
            "run experiment on project",
            lambda w: {
                "name": unique("rx"),
                "type": "RUN_EXPERIMENT",
                "project_id": w.project["id"],
                "run_configuration": arrange.llm_generation_config(w.integration_id),
            },
            400,
            "project_id",
        ),
        (
            "agent call",
            lambda w: {
                "name": unique("rx"),
                "type": "run_experiment",
                "dataset_id": w.dataset.id,
                "run_configuration": {"experiment_type": "agent_call", "integration_id": "x", "input_template": {}},
            },
            422,
            "agent",
        ),
        (
            "unknown experiment type",
            lambda w: {
                "name": unique("rx"),
                "type": "run_experiment",
                "dataset_id": w.dataset.id,
                "run_configuration": {"experiment_type": "magic"},
            },
            400,
            "experiment_type",
        ),
        (
            "llm generation without messages",
            lambda w: {
                "name": unique("rx"),
                "type": "run_experiment",
                "dataset_id": w.dataset.id,
                "run_configuration": {
                    k: v for k, v in arrange.llm_generation_config(w.integration_id).items() if k != "messages"
                },
            },
            400,
            "messages",
        ),
        (
            "bad message role",
            lambda w: {
                "name": unique("rx"),
                "type": "run_experiment",
                "dataset_id": w.dataset.id,
                "run_configuration": arrange.llm_generation_config(
                    w.integration_id, messages=[{"role": "robot", "content": "x"}]
                ),
            },
            400,
            "role",
        ),
        (
            "integration not found",
            lambda w: {
                "name": unique("rx"),
                "type": "run_experiment",
                "dataset_id": w.dataset.id,
                "run_configuration": arrange.llm_generation_config("R2VuZXJhdGl2ZUludGVncmF0aW9uOjk5OTk5"),
            },
            404,
            "integration",
        ),
        (
            "dataset not found",
            lambda w: project_task_body(w, project_id=None, dataset_id="RGF0YXNldDo5OTk5OTk="),
            404,
            "dataset",
        ),
    ]


@pytest.mark.parametrize("case", _cases(), ids=[c[0] for c in _cases()])
def test_create_rejects_invalid_tasks_with_4xx_problems(
    case: tuple[str, Any, int, str], shared_world: World, http
) -> None:
    _, build, status, fragment = case
    assert_problem(http.post("/v2/tasks", json=build(shared_world)), status, fragment)
    listed = http.get("/v2/tasks", params={"space_id": shared_world.space["id"]}).json()["tasks"]
    assert listed == []


def test_create_rejects_experiment_of_another_dataset_and_foreign_evaluator(
    server: Server, world: World, api: Api, http
) -> None:
    other_dataset = arrange.dataset(api, world.space["id"])
    foreign_experiment = arrange.experiment(api, other_dataset)
    body = project_task_body(world, project_id=None, dataset_id=world.dataset.id, experiment_ids=[foreign_experiment])
    assert_problem(http.post("/v2/tasks", json=body), 422, "does not belong")
    elsewhere = arrange.evaluator(api, api.space()["id"])
    body = project_task_body(world, evaluators=[{"evaluator_id": elsewhere.id}])
    assert_problem(http.post("/v2/tasks", json=body), 422, "another space")


def test_integration_scoped_to_another_space_is_not_found(server: Server, world: World, api: Api, http) -> None:
    """An integration unusable here, or invisible to the caller, answers as a missing one does."""
    other_space = api.space()
    scoped_elsewhere = arrange.ai_integration(api, space_ids=[other_space["id"]])
    body = {
        "name": unique("rx"),
        "type": "run_experiment",
        "dataset_id": world.dataset.id,
        "run_configuration": arrange.llm_generation_config(scoped_elsewhere),
    }
    missing = assert_problem(http.post("/v2/tasks", json=body), 404, "ai_integration_id", "not found")
    member = arrange.user_key(server, world.space["id"], "MEMBER")
    deleted = arrange.ai_integration(api, space_ids=[world.space["id"]])
    api.ok(http.delete(f"/v2/ai-integrations/{deleted}"), 204)
    with server.http(member) as as_member:
        for integration in (scoped_elsewhere, deleted):
            body = {**body, "name": unique("rx"), "run_configuration": arrange.llm_generation_config(integration)}
            answer = assert_problem(as_member.post("/v2/tasks", json=body), 404)
            assert answer["detail"] == missing["detail"]
    assert http.get("/v2/tasks", params={"space_id": world.space["id"], "name": "rx"}).json()["tasks"] == []
    scoped_here = arrange.ai_integration(api, space_ids=[world.space["id"]])
    body = {**body, "run_configuration": arrange.llm_generation_config(scoped_here)}
    assert http.post("/v2/tasks", json=body).status_code == 201


def test_duplicate_task_name_in_space_is_409(server: Server, world: World, http) -> None:
    client = server.sdk()
    client.tasks.create_evaluation_task(
        name="dup",
        task_type="TEMPLATE_EVALUATION",
        project=world.project["id"],
        evaluators=[span_evaluator(world.template_eval.id)],
    )
    with pytest.raises(ApiException) as caught:
        client.tasks.create_evaluation_task(
            name="dup",
            task_type="TEMPLATE_EVALUATION",
            project=world.project["id"],
            evaluators=[span_evaluator(world.template_eval.id)],
        )
    assert caught.value.status == 409
    listed = http.get("/v2/tasks", params={"space_id": world.space["id"]}).json()["tasks"]
    assert [t["name"] for t in listed] == ["dup"]


# --- list and get ----------------------------------------------------------------------


def test_sdk_lists_tasks_with_each_filter(server: Server, world: World, api: Api) -> None:
    client = server.sdk()
    on_project = client.tasks.create_evaluation_task(
        name=unique("alpha"),
        task_type="TEMPLATE_EVALUATION",
        project=world.project["id"],
        evaluators=[span_evaluator(world.template_eval.id)],
    )
    on_dataset = client.tasks.create_evaluation_task(
        name=unique("beta"),
        task_type="CODE_EVALUATION",
        dataset=world.dataset.id,
        experiment_ids=[world.experiment_id],
        evaluators=[span_evaluator(world.code_eval.id)],
    )
    experiment = client.tasks.create_run_experiment_task(
        name=unique("gamma"),
        dataset=world.dataset.id,
        run_configuration=arrange.llm_generation_config(world.integration_id),
    )
    # A task in another space never shows up under this space's filters.
    other = api.space()
    client.tasks.create_evaluation_task(
        name=unique("alpha"),
        task_type="TEMPLATE_EVALUATION",
        project=api.project(other["id"])["id"],
        evaluators=[span_evaluator(arrange.evaluator(api, other["id"]).id)],
    )

    def ids(**filters: Any) -> list[str]:
        return [t.id for t in client.tasks.list(**filters).tasks]

    everything = [experiment.id, on_dataset.id, on_project.id]
    assert ids(space=world.space["id"]) == everything
    assert ids(space=world.space["name"]) == everything
    assert ids(space=world.space["id"], name=on_project.name[:8].upper()) == [on_project.id]
    assert ids(project=world.project["id"]) == [on_project.id]
    assert ids(dataset=world.dataset.id) == [experiment.id, on_dataset.id]
    assert ids(space=world.space["id"], task_type="CODE_EVALUATION") == [on_dataset.id]
    assert ids(space=world.space["id"], task_type="RUN_EXPERIMENT") == [experiment.id]
    first = client.tasks.list(space=world.space["id"], limit=2)
    assert [t.id for t in first.tasks] == everything[:2] and first.pagination.has_more
    second = client.tasks.list(space=world.space["id"], limit=2, cursor=first.pagination.next_cursor)
    assert [t.id for t in second.tasks] == everything[2:] and not second.pagination.has_more


def test_sdk_gets_task_by_name_and_by_id(server: Server, world: World) -> None:
    client = server.sdk()
    created = client.tasks.create_evaluation_task(
        name=unique("named"),
        task_type="TEMPLATE_EVALUATION",
        project=world.project["id"],
        evaluators=[span_evaluator(world.template_eval.id)],
    )
    assert client.tasks.get(task=created.name, space=world.space["name"]).id == created.id
    assert client.tasks.get(task=created.id).name == created.name


def test_seed_dialect_returns_exactly_the_seed_task_fields(server: Server, world: World, http) -> None:
    spec = yaml.safe_load(SEED_SPEC.read_text())["components"]["schemas"]
    task_keys = set(spec["Task"]["properties"])
    evaluator_keys = set(spec["TaskEvaluator"]["properties"])
    body = project_task_body(
        world,
        evaluators=[
            {
                "evaluator_id": world.template_eval.id,
                "evaluator_version_id": world.template_eval.version_ids[1],
                "column_mappings": {"input": "attributes.input.value"},
            }
        ],
    )
    created = http.post("/v2/tasks", json=body)
    assert created.status_code == 201, created.text
    rx = http.post(
        "/v2/tasks",
        json={
            "name": unique("rx"),
            "type": "RUN_EXPERIMENT",
            "dataset_id": world.dataset.id,
            "run_configuration": arrange.llm_generation_config(world.integration_id),
        },
    )
    assert rx.status_code == 201, rx.text
    for task in (
        created.json(),
        rx.json(),
        http.get(f"/v2/tasks/{created.json()['id']}").json(),
        *http.get("/v2/tasks", params={"space_id": world.space["id"]}).json()["tasks"],
    ):
        assert set(task) == task_keys
        assert task["type"] in ("template_evaluation", "run_experiment")
        for evaluator in task["evaluators"]:
            assert set(evaluator) == evaluator_keys
    assert rx.json()["run_configuration"]["experiment_type"] == "llm_generation"


# --- update ----------------------------------------------------------------------------


def test_sdk_updates_task_partially_and_replaces_evaluators(server: Server, world: World) -> None:
    client = server.sdk()
    task = client.tasks.create_evaluation_task(
        name=unique("upd"),
        task_type="TEMPLATE_EVALUATION",
        project=world.project["id"],
        evaluators=[span_evaluator(world.template_eval.id)],
        query_filter="attributes.a = 1",
        is_continuous=True,
    )
    time.sleep(0.01)
    new_name = unique("renamed")
    updated = client.tasks.update(
        task=task.id,
        name=new_name,
        sampling_rate=0.25,
        evaluators=[
            span_evaluator(world.template_eval_2.id, column_mappings={"output": "attributes.output.value"}),
            span_evaluator(world.template_eval.id, evaluator_version_id=world.template_eval.version_ids[1]),
        ],
    )
    assert updated.name == new_name and updated.sampling_rate == 0.25
    assert updated.query_filter == "attributes.a = 1" and updated.is_continuous is True  # untouched
    assert [e.evaluator_id for e in updated.evaluators] == [world.template_eval_2.id, world.template_eval.id]
    assert updated.evaluators[1].evaluator_version_id == world.template_eval.version_ids[1]
    assert updated.updated_at > task.updated_at
    cleared = client.tasks.update(task=new_name, space=world.space["id"], query_filter=None)
    assert cleared.query_filter is None and cleared.sampling_rate == 0.25
    assert client.tasks.get(task=task.id).query_filter is None


def test_sdk_updates_run_experiment_configuration(server: Server, world: World) -> None:
    client = server.sdk()
    task = client.tasks.create_run_experiment_task(
        name=unique("rx"),
        dataset=world.dataset.id,
        run_configuration=arrange.llm_generation_config(world.integration_id),
    )
    updated = client.tasks.update(
        task=task.id, run_configuration=arrange.llm_generation_config(world.integration_id, model_name="gpt-4o-mini")
    )
    assert updated.run_configuration.model_name == "gpt-4o-mini"


def test_update_rejects_fields_not_valid_for_the_task(server: Server, world: World, http) -> None:
    evaluation = http.post("/v2/tasks", json=project_task_body(world)).json()
    on_dataset = http.post(
        "/v2/tasks", json=project_task_body(world, project_id=None, dataset_id=world.dataset.id)
    ).json()
    rx = http.post(
        "/v2/tasks",
        json={
            "name": unique("rx"),
            "type": "RUN_EXPERIMENT",
            "dataset_id": world.dataset.id,
            "run_configuration": arrange.llm_generation_config(world.integration_id),
        },
    ).json()
    config = arrange.llm_generation_config(world.integration_id)
    assert_problem(
        http.patch(f"/v2/tasks/{evaluation['id']}", json={"run_configuration": config}), 400, "run_configuration"
    )
    assert_problem(http.patch(f"/v2/tasks/{rx['id']}", json={"sampling_rate": 0.5}), 400, "sampling_rate")
    assert_problem(http.patch(f"/v2/tasks/{rx['id']}", json={"query_filter": None}), 400, "query_filter")
    assert_problem(http.patch(f"/v2/tasks/{on_dataset['id']}", json={"sampling_rate": 0.5}), 400, "sampling_rate")
    assert_problem(http.patch(f"/v2/tasks/{evaluation['id']}", json={}), 400, "at least one")
    assert_problem(http.patch(f"/v2/tasks/{evaluation['id']}", json={"evaluators": []}), 400, "evaluators")
    assert_problem(http.patch(f"/v2/tasks/{evaluation['id']}", json={"query_filter": "(x"}), 400, "query_filter")
    assert_problem(http.patch(f"/v2/tasks/{evaluation['id']}", json={"type": "CODE_EVALUATION"}), 400, "type")
    assert_problem(http.patch(f"/v2/tasks/{evaluation['id']}", json={"name": rx["name"]}), 409, rx["name"])
    assert http.get(f"/v2/tasks/{evaluation['id']}").json() == evaluation  # nothing changed


# --- delete and access -----------------------------------------------------------------


def test_sdk_deletes_task_and_its_runs(server: Server, world: World, http) -> None:
    client = server.sdk()
    task = client.tasks.create_evaluation_task(
        name=unique("del"),
        task_type="TEMPLATE_EVALUATION",
        project=world.project["id"],
        evaluators=[span_evaluator(world.template_eval.id)],
    )
    run = http.post(
        f"/v2/tasks/{task.id}/trigger",
        json={"data_start_time": "2026-01-01T00:00:00Z", "data_end_time": "2026-01-02T00:00:00Z"},
    )
    assert run.status_code == 201, run.text
    client.tasks.delete(task=task.name, space=world.space["name"])
    assert_problem(http.get(f"/v2/tasks/{task.id}"), 404)
    assert_problem(http.get(f"/v2/task-runs/{run.json()['id']}"), 404)
    assert_problem(http.delete(f"/v2/tasks/{task.id}"), 404)


def test_read_only_members_get_403_and_outsiders_404(server: Server, world: World, api: Api, http) -> None:
    task = http.post("/v2/tasks", json=project_task_body(world)).json()
    reader = arrange.user_key(server, world.space["id"], "READ_ONLY")
    outsider = arrange.user_key(server, api.space()["id"], "MEMBER")
    with server.http(reader) as as_reader:
        assert as_reader.get(f"/v2/tasks/{task['id']}").status_code == 200
        assert_problem(as_reader.post("/v2/tasks", json=project_task_body(world)), 403)
        assert_problem(as_reader.patch(f"/v2/tasks/{task['id']}", json={"name": "x"}), 403)
        assert_problem(as_reader.post(f"/v2/tasks/{task['id']}/trigger", json={}), 403)
        assert_problem(as_reader.delete(f"/v2/tasks/{task['id']}"), 403)
    with server.http(outsider) as as_outsider:
        assert_problem(as_outsider.get(f"/v2/tasks/{task['id']}"), 404)
        assert_problem(as_outsider.post("/v2/tasks", json=project_task_body(world)), 404)
        assert as_outsider.get("/v2/tasks", params={"name": task["name"]}).json()["tasks"] == []


def test_sdk_switches_a_task_between_span_and_trace_shapes(server: Server, world: World, api: Api, http) -> None:
    client = server.sdk()
    judge = arrange.evaluator(api, world.space["id"], integration_id=world.integration_id, granularity="TRACE")
    task = client.tasks.create_evaluation_task(
        name=unique("shape"),
        task_type="TEMPLATE_EVALUATION",
        project=world.project["id"],
        evaluators=[span_evaluator(world.template_eval.id, column_mappings={"x": "attributes.input.value"})],
        query_filter="attributes.a = 1",
    )
    trace_evaluator = TaskEvaluatorInput(
        TraceOrSessionEvaluatorInput(
            evaluator_id=judge.id,
            query_mappings=[{"variable_name": "x", "query_ids": ["A"], "attribute_path": "attributes.input.value"}],
        )
    )
    filters = TaskQueryFilters(filters=[TaskQueryFilter(id="A", filter="span_kind = 'LLM'")])
    with pytest.raises(ApiException) as caught:  # the span-shaped evaluators would remain: mixed shapes
        client.tasks.update(task=task.id, query_filters=filters)
    assert caught.value.status == 400
    switched = client.tasks.update(task=task.id, query_filters=filters, evaluators=[trace_evaluator])
    assert switched.query_filter is None
    assert switched.query_filters.filters[0].id == "A"
    assert switched.evaluators[0].query_mappings[0].attribute_path == "attributes.input.value"
    back = client.tasks.update(task=task.id, query_filters=None, evaluators=[span_evaluator(world.template_eval.id)])
    assert back.query_filters is None and back.evaluators[0].query_mappings is None
    assert (
        http.patch(f"/v2/tasks/{task.id}", json={"run_configuration": {"experiment_type": "AGENT_CALL"}}).status_code
        == 400
    )  # not for evaluation tasks


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        ({"query_filter": "span_kind = 'LLM' AND"}, ("'query_filter' is not a valid filter", "position 21")),
        (
            {"query_filters": {"filters": [{"id": "A", "filter": "latency_ms > 'slow'"}]}},
            ("'query_filters.filters[0].filter' is not a valid filter", "position 13"),
        ),
        (
            {
                "query_filters": {
                    "filters": [{"id": "A", "filter": "span_kind = 'LLM'"}, {"id": "B", "filter": "latency_ms > 5"}],
                    "expression": "A AND (B OR C)",
                }
            },
            ("'query_filters.expression'", "'C' at position 12 is not a declared filter id"),
        ),
        (
            {"query_filters": {"filters": [{"id": "A", "filter": "name = 'x'"}], "expression": "A B"}},
            ("'query_filters.expression'", "position 2"),
        ),
    ],
    ids=["span-filter", "query-filter", "undeclared-id", "two-ids"],
)
def test_task_filters_are_parsed_when_saved_with_the_position(
    overrides: dict[str, Any], fragments: tuple[str, ...], shared_world: World, http
) -> None:
    assert_problem(http.post("/v2/tasks", json=project_task_body(shared_world, **overrides)), 400, *fragments)
    assert http.get("/v2/tasks", params={"space_id": shared_world.space["id"]}).json()["tasks"] == []
