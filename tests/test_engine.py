"""The engine end to end: spans arrive over OTLP, tasks evaluate them with a local judge
(through the openai SDK) and code evaluators, results land on the spans."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from arize._generated.api_client import SpanEvaluatorInput, TaskEvaluatorInput

from tests.support import Api, LlmServer, Server, unique
from tests.support_spans import export, export_response, llm_attributes, project_id_named, request_pb, span_pb

CHOICES = {"correct": 1, "incorrect": 0}


def integration(api: Api, space_id: str, llm: LlmServer, *, key: str = "sk-local") -> dict[str, Any]:
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
    body = {
        "space_id": space_id,
        "name": unique("code"),
        "type": "CODE",
        "version": {"commit_message": "first", "code_config": code_config},
    }
    return api.ok(api.client.post("/v2/evaluators", json=body), 201)


def send_spans(
    server: Server, space_id: str, project: str, outputs: list[str | None], *, age: timedelta = timedelta(minutes=5)
) -> None:
    start_ns = int((datetime.now(UTC) - age).timestamp() * 1e9)
    spans = []
    for i, output in enumerate(outputs):
        attributes = llm_attributes(i)
        if output is None:
            attributes.pop("output.value")
        else:
            attributes["output.value"] = output
        spans.append(span_pb(start_ns=start_ns + i * 1_000_000, attributes=attributes))
    export_response(export(server, request_pb(spans, project), space_id=space_id))


def evaluations(http: httpx.Client, project_id: str) -> list[list[dict[str, Any]]]:
    response = http.post("/v2/spans", params={"limit": 500}, json={"project_id": project_id})
    assert response.status_code == 200, response.text
    return [span["evaluations"] for span in response.json()["spans"]]


def wait_until(predicate, timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def task_with(
    client: Any, project_id: str, evaluator_id: str, *, task_type: str = "TEMPLATE_EVALUATION", **fields: Any
) -> Any:
    return client.tasks.create_evaluation_task(
        name=unique("task"),
        task_type=task_type,
        project=project_id,
        evaluators=[TaskEvaluatorInput(SpanEvaluatorInput(evaluator_id=evaluator_id))],
        **fields,
    )


@pytest.fixture
def world(engine_server: Server, llm: LlmServer):
    with engine_server.http() as http:
        api = Api(http)
        space = api.space()
        judge = integration(api, space["id"], llm)
        yield engine_server, api, space, judge


def test_backfill_judges_every_span_with_exact_counters(world) -> None:
    server, api, space, judge = world
    evaluator = template_evaluator(api, space["id"], judge["id"])
    project = unique("proj")
    outputs = ["4 [[label:correct]]", "5 [[label:incorrect]]", None, "42 [[label:maybe]]", "4 [[label:correct]]"]
    send_spans(server, space["id"], project, outputs)
    project_id = project_id_named(api.client, space["id"], project)
    client = server.sdk()
    task = task_with(client, project_id, evaluator["id"])
    run = client.tasks.trigger_run(task=task.id, data_start_time=datetime.now(UTC) - timedelta(hours=1))
    done = client.tasks.wait_for_run(run_id=run.id, poll_interval=0.3, timeout=60)
    assert done.status == "COMPLETED", done
    # two correct, one incorrect, one answer outside the choices (error), one span without output (skipped)
    assert (done.num_successes, done.num_errors, done.num_skipped) == (3, 1, 1)
    labels = sorted(e["label"] for span in evaluations(api.client, project_id) for e in span)
    assert labels == ["correct", "correct", "incorrect"]
    spans = client.spans.list(project=project_id, space=space["id"]).spans
    results = [e for s in spans for e in s.evaluations]
    assert {(e.name, e.label, e.score) for e in results} == {
        ("correctness", "correct", 1.0),
        ("correctness", "incorrect", 0.0),
    }
    assert all(e.explanation for e in results)
    # The results are filterable like any span column.
    hits = api.client.post("/v2/spans", json={"project_id": project_id, "filter": "eval.correctness.label = 'correct'"})
    assert hits.status_code == 200 and len(hits.json()["spans"]) == 2


def test_task_and_evaluator_filters_are_anded(world) -> None:
    server, api, space, judge = world
    evaluator = template_evaluator(api, space["id"], judge["id"])
    project = unique("proj")
    send_spans(server, space["id"], project, ["short", "a much longer answer", "another long answer here"])
    project_id = project_id_named(api.client, space["id"], project)
    client = server.sdk()
    task = client.tasks.create_evaluation_task(
        name=unique("task"),
        task_type="TEMPLATE_EVALUATION",
        project=project_id,
        query_filter="attributes.llm.token_count.total >= 201",
        evaluators=[
            TaskEvaluatorInput(
                SpanEvaluatorInput(evaluator_id=evaluator["id"], query_filter="attributes.output.value LIKE '%long%'")
            )
        ],
    )
    run = client.tasks.trigger_run(task=task.id, data_start_time=datetime.now(UTC) - timedelta(hours=1))
    done = client.tasks.wait_for_run(run_id=run.id, poll_interval=0.3, timeout=60)
    # span 0 fails the task filter (total 200), span 1 passes both, span 2 passes both
    assert (done.status, done.num_successes) == ("COMPLETED", 2)


def test_a_second_backfill_skips_evaluated_spans_unless_overridden(world, llm: LlmServer) -> None:
    server, api, space, judge = world
    evaluator = template_evaluator(api, space["id"], judge["id"])
    project = unique("proj")
    send_spans(server, space["id"], project, [f"answer {i}" for i in range(6)])
    project_id = project_id_named(api.client, space["id"], project)
    client = server.sdk()
    task = task_with(client, project_id, evaluator["id"])
    since = datetime.now(UTC) - timedelta(hours=1)
    first = client.tasks.wait_for_run(
        run_id=client.tasks.trigger_run(task=task.id, data_start_time=since).id, poll_interval=0.3
    )
    calls = llm.stats().get("chat_completions", 0)
    again = client.tasks.wait_for_run(
        run_id=client.tasks.trigger_run(task=task.id, data_start_time=since).id, poll_interval=0.3
    )
    assert (first.num_successes, again.num_successes, again.num_skipped) == (6, 0, 6)
    assert llm.stats().get("chat_completions", 0) == calls  # nothing judged twice
    redo = client.tasks.trigger_run(task=task.id, data_start_time=since, override_evaluations=True)
    redone = client.tasks.wait_for_run(run_id=redo.id, poll_interval=0.3)
    assert redone.num_successes == 6
    assert all(len(span) == 1 for span in evaluations(api.client, project_id))  # upserted, not duplicated


def test_sampling_picks_the_same_spans_every_time(world) -> None:
    server, api, space, judge = world
    evaluator = template_evaluator(api, space["id"], judge["id"])
    project = unique("proj")
    send_spans(server, space["id"], project, [f"answer {i}" for i in range(40)])
    project_id = project_id_named(api.client, space["id"], project)
    client = server.sdk()
    task = task_with(client, project_id, evaluator["id"], sampling_rate=0.5)
    since = datetime.now(UTC) - timedelta(hours=1)

    def evaluated_spans() -> set[str]:
        response = api.client.post("/v2/spans", params={"limit": 500}, json={"project_id": project_id})
        return {s["context"]["span_id"] for s in response.json()["spans"] if s["evaluations"]}

    first = client.tasks.wait_for_run(
        run_id=client.tasks.trigger_run(task=task.id, data_start_time=since).id, poll_interval=0.3
    )
    picked = evaluated_spans()
    redo = client.tasks.trigger_run(task=task.id, data_start_time=since, override_evaluations=True)
    second = client.tasks.wait_for_run(run_id=redo.id, poll_interval=0.3)
    assert 5 < first.num_successes < 35 and second.num_successes == first.num_successes
    assert evaluated_spans() == picked


def test_continuous_task_evaluates_new_spans_within_seconds(world) -> None:
    server, api, space, judge = world
    evaluator = template_evaluator(api, space["id"], judge["id"])
    project = unique("proj")
    send_spans(server, space["id"], project, ["old span [[label:correct]]"])
    project_id = project_id_named(api.client, space["id"], project)
    task = task_with(server.sdk(), project_id, evaluator["id"], is_continuous=True)
    send_spans(server, space["id"], project, ["fresh [[label:incorrect]]", "fresh [[label:correct]]"], age=timedelta(0))
    started = time.monotonic()
    wait_until(lambda: sum(1 for s in evaluations(api.client, project_id) if s) == 2, 20, "continuous evaluations")
    assert time.monotonic() - started < 10
    time.sleep(1.0)
    # The span stored before the task existed is left to backfills.
    assert sum(1 for s in evaluations(api.client, project_id) if s) == 2
    runs = server.sdk().tasks.list_runs(task=task.id).task_runs
    assert len(runs) == 1 and runs[0].status == "RUNNING" and runs[0].num_successes == 2
    fetched = server.sdk().tasks.get(task=task.id)
    assert fetched.last_run_at is not None
    assert fetched.updated_at == task.updated_at  # engine bookkeeping is not an edit of the task


def test_rejected_credentials_fail_the_run_fast_with_a_reason(world, llm: LlmServer) -> None:
    server, api, space, _ = world
    bad = integration(api, space["id"], llm, key="bad-key")
    evaluator = template_evaluator(api, space["id"], bad["id"])
    project = unique("proj")
    send_spans(server, space["id"], project, [f"answer {i}" for i in range(20)])
    project_id = project_id_named(api.client, space["id"], project)
    client = server.sdk()
    task = task_with(client, project_id, evaluator["id"])
    before = llm.stats().get("requests", 0)
    run = client.tasks.trigger_run(task=task.id, data_start_time=datetime.now(UTC) - timedelta(hours=1))
    done = client.tasks.wait_for_run(run_id=run.id, poll_interval=0.3, timeout=30)
    assert done.status == "FAILED"
    assert "credentials were rejected" in (done.failure_reason or "")
    assert llm.stats().get("requests", 0) - before <= 32 + 1  # at most one batch reached the provider, no retry storm


@pytest.mark.parametrize(
    ("code_config", "expected"),
    [
        (
            {
                "type": "MANAGED",
                "name": "mentions_refund",
                "managed_evaluator": "CONTAINS_ANY_KEYWORD",
                "variables": ["attributes.output.value"],
                "static_params": [{"name": "keywords", "type": "STRING_ARRAY", "default_value": ["refund"]}],
            },
            ["false", "true"],
        ),
        (
            {
                "type": "CUSTOM",
                "name": "long_answer",
                "variables": ["output"],
                "code": "class Long(CodeEvaluator):\n    def evaluate(self, *, output=None, **kw):\n"
                "        return EvaluationResult(score=len(output), label='long' if len(output) > 10 else 'short')\n",
            },
            ["long", "short"],
        ),
    ],
    ids=["managed", "custom"],
)
def test_code_evaluator_tasks(world, code_config: dict[str, Any], expected: list[str]) -> None:
    server, api, space, _ = world
    evaluator = code_evaluator(api, space["id"], code_config)
    project = unique("proj")
    send_spans(server, space["id"], project, ["a refund, please", "ok"])
    project_id = project_id_named(api.client, space["id"], project)
    client = server.sdk()
    task = task_with(client, project_id, evaluator["id"], task_type="CODE_EVALUATION")
    run = client.tasks.trigger_run(task=task.id, data_start_time=datetime.now(UTC) - timedelta(hours=1))
    done = client.tasks.wait_for_run(run_id=run.id, poll_interval=0.3, timeout=60)
    assert (done.status, done.num_successes) == ("COMPLETED", 2)
    labels = sorted(e["label"] for span in evaluations(api.client, project_id) for e in span)
    assert labels == expected


def test_cancel_stops_a_running_backfill(world, llm: LlmServer) -> None:
    server, api, space, judge = world
    evaluator = template_evaluator(api, space["id"], judge["id"])
    project = unique("proj")
    send_spans(server, space["id"], project, [f"answer {i}" for i in range(150)])
    project_id = project_id_named(api.client, space["id"], project)
    client = server.sdk()
    task = task_with(client, project_id, evaluator["id"])
    llm.control(latency_ms=500)
    try:
        run = client.tasks.trigger_run(task=task.id, data_start_time=datetime.now(UTC) - timedelta(hours=1))
        wait_until(lambda: client.tasks.get_run(run_id=run.id).status == "RUNNING", 20, "run to start")
        cancelled = client.tasks.cancel_run(run_id=run.id)
        assert cancelled.status == "CANCELLED"
        time.sleep(2.0)
        settled = sum(1 for s in evaluations(api.client, project_id) if s)
        time.sleep(1.5)
        assert sum(1 for s in evaluations(api.client, project_id) if s) == settled < 150
        final = client.tasks.get_run(run_id=run.id)
        assert final.status == "CANCELLED" and final.num_successes == settled
    finally:
        llm.control(latency_ms=0)
