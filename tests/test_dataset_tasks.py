"""Dataset evaluation tasks executed by the engine: evaluators run over the runs of chosen
experiments, variables resolve against the run and its example, and results land on the
runs as eval.<name>.* columns — once, however often the task is triggered."""

from __future__ import annotations

from typing import Any

import pytest
from arize._generated.api_client import SpanEvaluatorInput, TaskEvaluatorInput
from arize.experiments import ExperimentTaskFieldNames

from evalplane.db.models import ExperimentRun
from evalplane.engine.dataset_documents import RUN_DEFAULTS, run_document
from evalplane.engine.experiments_generation import (
    MissingVariable,
    generation_request,
    provider_params,
    render,
)
from evalplane.engine.variables import resolve_variables
from tests.support import unique
from tests.support_engine import EngineWorld, code_evaluator, dataset_with, runs_of, template_evaluator

FIELDS = ExperimentTaskFieldNames(example_id="example_id", output="output")


def experiment(client: Any, dataset_id: str, runs: list[dict[str, Any]]) -> Any:
    return client.experiments.create(name=unique("exp"), dataset=dataset_id, experiment_runs=runs, task_fields=FIELDS)


def evaluation_task(client: Any, dataset_id: str, experiment_ids: list[str], evaluator_id: str, **fields: Any) -> Any:
    mappings = fields.pop("column_mappings", None)
    return client.tasks.create_evaluation_task(
        name=unique("eval"),
        task_type=fields.pop("task_type", "TEMPLATE_EVALUATION"),
        dataset=dataset_id,
        experiment_ids=experiment_ids,
        evaluators=[TaskEvaluatorInput(SpanEvaluatorInput(evaluator_id=evaluator_id, column_mappings=mappings))],
        **fields,
    )


def test_evaluates_the_runs_of_the_chosen_experiments_once(engine_world: EngineWorld) -> None:
    server, api, space, judge = engine_world
    client = server.sdk()
    dataset, example_ids = dataset_with(client, space["id"], [{"input": "2+2?"}, {"input": "3+3?"}, {"input": "4+4?"}])
    first = experiment(
        client,
        dataset.id,
        [
            {"example_id": example_ids[0], "output": "4 [[label:correct]]"},
            {"example_id": example_ids[1], "output": "7 [[label:incorrect]]"},
            {"example_id": example_ids[2], "output": ""},
        ],
    )
    second = experiment(client, dataset.id, [{"example_id": example_ids[0], "output": "4 [[label:correct]]"}])
    evaluator = template_evaluator(api, space["id"], judge["id"])
    task = evaluation_task(client, dataset.id, [first.id, second.id], evaluator["id"])

    # the trigger picks one of the task's experiments
    run = client.tasks.trigger_run(task=task.id, experiment_ids=[first.id])
    done = client.tasks.wait_for_run(run_id=run.id, poll_interval=0.3, timeout=60)
    assert done.status == "COMPLETED", done
    assert (done.num_successes, done.num_errors, done.num_skipped) == (2, 0, 1)  # empty output: skipped
    assert done.experiment_id == first.id
    runs = {r["example_id"]: r for r in runs_of(client, first.id)}
    assert (runs[example_ids[0]]["eval.correctness.label"], runs[example_ids[0]]["eval.correctness.score"]) == (
        "correct",
        1.0,
    )
    assert runs[example_ids[1]]["eval.correctness.label"] == "incorrect"
    assert runs[example_ids[1]]["eval.correctness.explanation"]
    assert "eval.correctness.label" not in runs[example_ids[2]]
    assert all("eval.correctness.label" not in r for r in runs_of(client, second.id))

    # triggered again with the task's own experiments: evaluated runs are skipped, nothing duplicates
    again = client.tasks.trigger_run(task=task.id)
    done = client.tasks.wait_for_run(run_id=again.id, poll_interval=0.3, timeout=60)
    assert (done.status, done.num_successes, done.num_errors, done.num_skipped) == ("COMPLETED", 1, 0, 3)
    assert runs_of(client, second.id)[0]["eval.correctness.label"] == "correct"
    assert len(runs_of(client, first.id)) == 3

    # override evaluates again, still one result per run and evaluation name
    redo = client.tasks.trigger_run(task=task.id, experiment_ids=[first.id], override_evaluations=True)
    done = client.tasks.wait_for_run(run_id=redo.id, poll_interval=0.3, timeout=60)
    assert (done.status, done.num_successes, done.num_skipped) == ("COMPLETED", 2, 1)
    df = client.experiments.list_runs(experiment=first.id).to_df()
    assert sorted(df["eval.correctness.label"].dropna()) == ["correct", "incorrect"]


def test_variables_come_from_the_run_and_its_example(engine_world: EngineWorld) -> None:
    server, api, space, judge = engine_world
    client = server.sdk()
    dataset, example_ids = dataset_with(
        client,
        space["id"],
        [
            {"question": "Capital of France?", "expected": "Paris [[label:correct]]"},
            {"question": "Capital of Italy?", "expected": "Rome [[label:incorrect]]"},
        ],
    )
    runs = experiment(
        client,
        dataset.id,
        [
            {"example_id": example_ids[0], "output": "Paris", "model": "m1"},
            {"example_id": example_ids[1], "output": "Milan", "model": "m1"},
        ],
    )
    body = {
        "space_id": space["id"],
        "name": unique("ev"),
        "type": "TEMPLATE",
        "version": {
            "commit_message": "first",
            "template_config": {
                "name": "matches",
                "template": "Q: {q}\nExpected: {reference}\nGot: {output}\nModel: {run.model}",
                "include_explanations": False,
                "use_function_calling": True,
                "classification_choices": {"correct": 1, "incorrect": 0},
                "llm_config": {
                    "ai_integration_id": judge["id"],
                    "model_name": "judge-1",
                    "invocation_parameters": {},
                    "provider_parameters": {},
                },
            },
        },
    }
    evaluator = api.ok(api.client.post("/v2/evaluators", json=body), 201)
    # {q} is mapped to an example column; {reference} means the example's 'expected'; {output} is the run's
    task = evaluation_task(client, dataset.id, [runs.id], evaluator["id"], column_mappings={"q": "example.question"})
    done = client.tasks.wait_for_run(run_id=client.tasks.trigger_run(task=task.id).id, poll_interval=0.3, timeout=60)
    assert (done.status, done.num_successes, done.num_errors, done.num_skipped) == ("COMPLETED", 2, 0, 0)
    labels = {r["example_id"]: r["eval.matches.label"] for r in runs_of(client, runs.id)}
    assert labels == {example_ids[0]: "correct", example_ids[1]: "incorrect"}


def test_code_evaluators_and_filters_over_runs(engine_world: EngineWorld) -> None:
    server, api, space, judge = engine_world
    client = server.sdk()
    dataset, example_ids = dataset_with(client, space["id"], [{"input": f"q{i}"} for i in range(4)])
    runs = experiment(
        client,
        dataset.id,
        [
            {"example_id": example_ids[i], "output": out, "model": model}
            for i, (out, model) in enumerate(
                [('{"a": 1}', "big"), ("not json", "big"), ('{"b": 2}', "small"), ("[]", "big")]
            )
        ],
    )
    evaluator = code_evaluator(
        api,
        space["id"],
        {
            "name": "is_json",
            "type": "MANAGED",
            "managed_evaluator": "JSON_PARSEABLE",
            "variables": ["output"],
        },
    )
    task = evaluation_task(
        client, dataset.id, [runs.id], evaluator["id"], task_type="CODE_EVALUATION", query_filter="model = 'big'"
    )
    done = client.tasks.wait_for_run(run_id=client.tasks.trigger_run(task=task.id).id, poll_interval=0.3, timeout=60)
    assert (done.status, done.num_successes, done.num_errors, done.num_skipped) == ("COMPLETED", 3, 0, 0)
    results = {r["example_id"]: r.get("eval.is_json.label") for r in runs_of(client, runs.id)}
    assert results[example_ids[2]] is None  # filtered out: model is 'small'
    assert (results[example_ids[0]], results[example_ids[1]], results[example_ids[3]]) == ("true", "false", "true")


# --- the conventions, as pure functions ---------------------------------------------------


def test_run_documents_resolve_common_variables_without_mappings() -> None:
    run = ExperimentRun(id=1, example_id="x", output="the answer", error=None, data={"model": "m"}, annotations=[])
    example = {"input": "the question", "expected": "gold", "output": "reference output", "attributes": "flat"}
    document = run_document(run, example)
    values = resolve_variables(
        document, ["input", "output", "reference", "example.output", "run.model", "model"], {}, RUN_DEFAULTS
    )
    assert values == {
        "input": "the question",
        "output": "the answer",
        "reference": "gold",
        "example.output": "reference output",
        "run.model": "m",
        "model": "m",
    }
    spans_dataset = run_document(run, {"attributes.input.value": "from a span"})
    assert resolve_variables(spans_dataset, ["input"], {}, RUN_DEFAULTS) == {"input": "from a span"}


def test_message_rendering_formats() -> None:
    columns = {"q": "why?", "meta": {"level": 2}, "attributes.input.value": "raw"}
    assert render('{q} {{q}} {meta.level} {attributes.input.value} {"json": 1}', columns, "F_STRING") == (
        'why? {q} 2 raw {"json": 1}'
    )
    assert render("{{q}} {{ meta }} {q}", columns, "MUSTACHE") == 'why? {"level": 2} {q}'
    assert render("{q} {{q}}", columns, "NONE") == "{q} {{q}}"
    with pytest.raises(MissingVariable):
        render("{nope}", columns, "F_STRING")
    assert provider_params({"temperature": 0, "response_format": {"type": "JSON_OBJECT"}, "tool_config": {}}) == {
        "temperature": 0,
        "response_format": {"type": "json_object"},
    }
    request = generation_request(
        {
            "model_name": "m",
            "input_variable_format": "F_STRING",
            "messages": [
                {
                    "role": "ASSISTANT",
                    "content": None,
                    "tool_calls": [{"id": "c1", "type": "FUNCTION", "function": {"name": "f", "arguments": "{}"}}],
                },
                {"role": "TOOL", "content": "{q}", "tool_call_id": "c1"},
            ],
            "invocation_parameters": {"tool_config": {"tools": [{"type": "function"}], "tool_choice": "auto"}},
        },
        columns,
    )
    assert request.messages == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "content": "why?", "tool_call_id": "c1"},
    ]
    assert request.tools == [{"type": "function"}] and request.tool_choice == "auto"
