"""run_experiment tasks executed by the engine: the SDK creates a task, triggers it, waits,
and finds a new experiment whose runs hold each example's output or error, with the chained
evaluation tasks' eval.<name>.* results on them."""

from __future__ import annotations

import time
from typing import Any

import pytest
from arize import ApiException
from arize._generated.api_client import SpanEvaluatorInput, TaskEvaluatorInput
from arize.experiments import ExperimentTaskFieldNames

from tests.support import LlmServer, Server, unique
from tests.support_engine import EngineWorld, dataset_with, integration, runs_of, template_evaluator

GEN_MODEL = "gen-1"


def generation_config(integration_id: str, **overrides: Any) -> dict[str, Any]:
    config = {
        "experiment_type": "LLM_GENERATION",
        "ai_integration_id": integration_id,
        "model_name": GEN_MODEL,
        "messages": [
            {"role": "SYSTEM", "content": "Answer in one word."},
            {"role": "USER", "content": "Q: {input}"},
        ],
        "input_variable_format": "F_STRING",
        "invocation_parameters": {"temperature": 0, "max_tokens": 50},
    }
    return {**config, **overrides}


def wait_for_runs(client: Any, task_id: str, count: int, timeout: float = 60) -> list[Any]:
    """The task's runs once ``count`` of them are terminal."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = client.tasks.list_runs(task=task_id).task_runs
        if len([r for r in runs if r.status in ("COMPLETED", "FAILED", "CANCELLED")]) >= count:
            return runs
        time.sleep(0.3)
    raise AssertionError(f"task {task_id} did not finish {count} runs in time")


def test_run_experiment_records_outputs_and_errors_and_chains_evaluations(engine_world: EngineWorld) -> None:
    server, api, space, judge = engine_world
    client = server.sdk()
    dataset, example_ids = dataset_with(
        client,
        space["id"],
        [
            {"input": "2+2? [[label:correct]]", "expected": "4"},
            {"input": "Capital of France? [[label:incorrect]]", "expected": "Paris"},
            {"input": "This one breaks [[fail:400:9]]", "expected": "?"},
        ],
    )
    evaluator = template_evaluator(api, space["id"], judge["id"])
    baseline = client.experiments.create(
        name=unique("baseline"),
        dataset=dataset.id,
        experiment_runs=[{"example_id": example_ids[0], "output": "4"}],
        task_fields=ExperimentTaskFieldNames(example_id="example_id", output="output"),
    )
    evaluation_task = client.tasks.create_evaluation_task(
        name=unique("judge-runs"),
        task_type="TEMPLATE_EVALUATION",
        dataset=dataset.id,
        experiment_ids=[baseline.id],
        evaluators=[TaskEvaluatorInput(SpanEvaluatorInput(evaluator_id=evaluator["id"]))],
    )
    task = client.tasks.create_run_experiment_task(
        name=unique("generate"),
        dataset=dataset.id,
        run_configuration=generation_config(judge["id"]),
    )

    run = client.tasks.trigger_run(task=task.id, experiment_name="gen-v1", evaluation_task_ids=[evaluation_task.id])
    done = client.tasks.wait_for_run(run_id=run.id, poll_interval=0.3, timeout=60)

    assert done.status == "COMPLETED", done
    # two answers, one example the provider refused: recorded as that example's error
    assert (done.num_successes, done.num_errors, done.num_skipped) == (2, 1, 0)
    assert done.experiment_id
    experiment = client.experiments.get(experiment=done.experiment_id)
    assert experiment.name == "gen-v1" and experiment.dataset_id == dataset.id
    assert experiment.dataset_version_id == dataset.versions[0].id

    chained = wait_for_runs(client, evaluation_task.id, 1)
    assert len(chained) == 1 and chained[0].status == "COMPLETED", chained
    assert chained[0].experiment_id == done.experiment_id
    # the errored example has no output to judge: skipped, not errored
    assert (chained[0].num_successes, chained[0].num_errors, chained[0].num_skipped) == (2, 0, 1)

    runs = {r["example_id"]: r for r in runs_of(client, done.experiment_id)}
    assert set(runs) == set(example_ids)
    first, second, broken = (runs[e] for e in example_ids)
    assert first["output"].startswith("Echo: ") and "Q: 2+2?" in first["output"] and first["error"] is None
    assert "Answer in one word." in first["output"]
    assert broken["output"] is None and "400" in broken["error"]
    assert (first["eval.correctness.label"], first["eval.correctness.score"]) == ("correct", 1.0)
    assert (second["eval.correctness.label"], second["eval.correctness.score"]) == ("incorrect", 0.0)
    assert first["eval.correctness.explanation"]
    assert "eval.correctness.label" not in broken
    # the baseline experiment the task was created with is left alone
    assert all("eval.correctness.label" not in r for r in runs_of(client, baseline.id))
    # search sees the engine's columns
    found = client.experiments.list_runs(experiment=done.experiment_id, filter="eval.correctness.label = 'correct'")
    assert [r.example_id for r in found.experiment_runs] == [example_ids[0]]


def test_trigger_narrows_examples_and_renders_mustache_with_tools(
    engine_world: EngineWorld, engine_server: Server
) -> None:
    server, api, space, judge = engine_world
    client = server.sdk()
    dataset, example_ids = dataset_with(
        client,
        space["id"],
        [{"question": f"q{i}", "topic": "math" if i % 2 else "art", "meta": {"level": i}} for i in range(6)],
    )
    tool = {
        "type": "function",
        "function": {
            "name": "answer",
            "description": "Give the answer",
            "parameters": {"type": "object", "properties": {"label": {"type": "string", "enum": ["yes", "no"]}}},
        },
    }
    config = generation_config(
        judge["id"],
        messages=[{"role": "USER", "content": "{{question}} at level {{meta.level}} ({literal})"}],
        input_variable_format="MUSTACHE",
        tool_config={"tools": [tool], "tool_choice": "auto"},
    )
    task = client.tasks.create_run_experiment_task(name=unique("tools"), dataset=dataset.id, run_configuration=config)
    # query_filter is not in the SDK's trigger_run: send it over HTTP
    response = api.client.post(
        f"/v2/tasks/{task.id}/trigger",
        json={
            "experiment_name": "math-only",
            "query_filter": "topic = 'math'",
            "max_examples": 2,
        },
    )
    assert response.status_code == 201, response.text
    done = client.tasks.wait_for_run(run_id=response.json()["id"], poll_interval=0.3, timeout=60)
    assert done.status == "COMPLETED", done
    assert (done.num_successes, done.num_errors, done.num_skipped) == (2, 0, 0)
    runs = runs_of(client, done.experiment_id)
    assert sorted(r["example_id"] for r in runs) == sorted([example_ids[1], example_ids[3]])
    # the model called the offered tool: the output is its tool calls
    assert all('"name": "answer"' in r["output"] for r in runs)

    # example_ids picks exactly those examples; a second run writes a second experiment
    run = client.tasks.trigger_run(task=task.id, experiment_name="picked", example_ids=[example_ids[0], example_ids[5]])
    done = client.tasks.wait_for_run(run_id=run.id, poll_interval=0.3, timeout=60)
    assert (done.status, done.num_successes) == ("COMPLETED", 2)
    assert sorted(r["example_id"] for r in runs_of(client, done.experiment_id)) == sorted(
        [example_ids[0], example_ids[5]]
    )


def test_missing_prompt_variables_are_recorded_on_the_example(engine_world: EngineWorld) -> None:
    server, api, space, judge = engine_world
    client = server.sdk()
    dataset, example_ids = dataset_with(client, space["id"], [{"input": "hello"}, {"other": "no input here"}])
    task = client.tasks.create_run_experiment_task(
        name=unique("gen"),
        dataset=dataset.id,
        run_configuration=generation_config(judge["id"]),
    )
    run = client.tasks.trigger_run(task=task.id, experiment_name="partial")
    done = client.tasks.wait_for_run(run_id=run.id, poll_interval=0.3, timeout=60)
    assert (done.status, done.num_successes, done.num_errors, done.num_skipped) == ("COMPLETED", 1, 0, 1)
    runs = {r["example_id"]: r for r in runs_of(client, done.experiment_id)}
    assert runs[example_ids[0]]["output"] == "Echo: Answer in one word.\nQ: hello"
    assert "'input'" in runs[example_ids[1]]["error"]


def test_template_evaluation_run_config_labels_each_example(engine_world: EngineWorld) -> None:
    server, api, space, judge = engine_world
    client = server.sdk()
    dataset, example_ids = dataset_with(
        client,
        space["id"],
        [
            {"response": "Paris [[label:right]]", "truth": "Paris"},
            {"response": "Lyon [[label:wrong]]", "truth": "Paris"},
            {"response": "Nice [[label:unsure]]", "truth": "Paris"},
        ],
    )
    config = {
        "experiment_type": "TEMPLATE_EVALUATION",
        "ai_integration_id": judge["id"],
        "model_name": "judge-1",
        "template": "Answer: {answer}\nTruth: {truth}\nIs it right?",
        "provide_explanation": True,
        "classification_choices": {"right": 1, "wrong": 0},
        "column_mapping": {"answer": "response"},
    }
    task = client.tasks.create_run_experiment_task(
        name=unique("judge-ds"), dataset=dataset.id, run_configuration=config
    )
    run = client.tasks.trigger_run(task=task.id, experiment_name="judged")
    done = client.tasks.wait_for_run(run_id=run.id, poll_interval=0.3, timeout=60)
    # 'unsure' is not one of the choices: that example errors, the others are labelled
    assert (done.status, done.num_successes, done.num_errors, done.num_skipped) == ("COMPLETED", 2, 1, 0)
    runs = {r["example_id"]: r for r in runs_of(client, done.experiment_id)}
    right, wrong, unsure = (runs[e] for e in example_ids)
    assert (right["output"], right["label"], right["score"]) == ("right", "right", 1.0)
    assert (wrong["output"], wrong["score"]) == ("wrong", 0.0)
    assert right["explanation"] and unsure["output"] is None and "unsure" in unsure["error"]


def test_bad_credentials_fail_the_run_fast(engine_world: EngineWorld, llm: LlmServer) -> None:
    server, api, space, judge = engine_world
    client = server.sdk()
    bad = integration(api, space["id"], llm, key="bad-key")
    dataset, _ = dataset_with(client, space["id"], [{"input": f"x{i}"} for i in range(5)])
    task = client.tasks.create_run_experiment_task(
        name=unique("gen"),
        dataset=dataset.id,
        run_configuration=generation_config(bad["id"]),
    )
    run = client.tasks.trigger_run(task=task.id, experiment_name="doomed")
    done = client.tasks.wait_for_run(run_id=run.id, poll_interval=0.3, timeout=60)
    assert done.status == "FAILED" and "credentials" in (done.failure_reason or "")


def test_experiment_names_agent_calls_and_bad_triggers(engine_world: EngineWorld) -> None:
    server, api, space, judge = engine_world
    client = server.sdk()
    dataset, _ = dataset_with(client, space["id"], [{"input": "a"}])
    task = client.tasks.create_run_experiment_task(
        name=unique("gen"),
        dataset=dataset.id,
        run_configuration=generation_config(judge["id"]),
    )
    run = client.tasks.trigger_run(task=task.id, experiment_name="once")
    assert client.tasks.wait_for_run(run_id=run.id, poll_interval=0.3, timeout=60).status == "COMPLETED"
    with pytest.raises(ApiException) as taken:
        client.tasks.trigger_run(task=task.id, experiment_name="once")
    assert taken.value.status == 409
    with pytest.raises(ApiException) as agent:
        client.tasks.create_run_experiment_task(
            name=unique("agent"),
            dataset=dataset.id,
            run_configuration={"experiment_type": "AGENT_CALL", "integration_id": "x", "input_template": {}},
        )
    assert agent.value.status == 422
    bad_filter = api.client.post(
        f"/v2/tasks/{task.id}/trigger", json={"experiment_name": "f", "query_filter": "topic = "}
    )
    assert bad_filter.status_code == 400
