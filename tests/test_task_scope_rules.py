"""The scope rules of evaluation tasks (issue 10, item 7): one scope per task, each evaluator in
the shape of its scope, and filters that fit. Each rule: its exact status and message, and a
refused request changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from arize._generated.api_client.exceptions import ApiException

from tests import arrange
from tests.arrange import World, assert_problem, make_world, project_task_body, span_evaluator
from tests.support import Api, Server, unique

TRACE_MAPPING = [{"variable_name": "input", "query_ids": ["A"], "attribute_path": "attributes.input.value"}]
LLM_SPANS = {"filters": [{"id": "A", "filter": "span_kind = 'LLM'"}]}


@dataclass
class Scoped:
    """A world with judges of every scope and code checks of two."""

    world: World
    trace_judge: arrange.EvaluatorRow
    session_judge: arrange.EvaluatorRow
    session_code: arrange.EvaluatorRow
    turned_trace: arrange.EvaluatorRow  # v0 evaluates spans, v1 traces


@pytest.fixture(scope="module")
def scoped(server: Server) -> Scoped:
    with server.http() as client:
        api = Api(client)
        world = make_world(api)
        space_id, integration = world.space["id"], world.integration_id

        def judge(granularity: str) -> arrange.EvaluatorRow:
            name = unique(f"{granularity.lower()}-judge")
            return arrange.evaluator(api, space_id, name=name, integration_id=integration, granularity=granularity)

        turned = arrange.evaluator(api, space_id, name=unique("turned"), integration_id=integration)
        config = arrange.template_config(integration, 1) | {"data_granularity": "TRACE"}
        added = api.ok(
            client.post(
                f"/v2/evaluators/{turned.id}/versions", json={"commit_message": "now traces", "template_config": config}
            ),
            201,
        )
        turned.version_ids.append(added["id"])
        session_code = arrange.evaluator(api, space_id, kind="CODE", name=unique("session-code"), granularity="SESSION")
        return Scoped(world, judge("TRACE"), judge("SESSION"), session_code, turned)


def _names(http: httpx.Client, space_id: str, name: str) -> list[str]:
    return [t["name"] for t in http.get("/v2/tasks", params={"space_id": space_id, "name": name}).json()["tasks"]]


def _refused(http: httpx.Client, body: dict[str, Any], status: int, detail: str, space_id: str) -> None:
    problem = assert_problem(http.post("/v2/tasks", json=body), status)
    assert problem["detail"] == detail
    assert _names(http, space_id, body["name"]) == []  # nothing was created


Case = tuple[str, Callable[[Scoped], dict[str, Any]], int, Callable[[Scoped], str]]
CASES: list[Case] = [
    (
        "span and trace shapes mixed",
        lambda s: project_task_body(
            s.world,
            query_filter="span_kind = 'LLM'",
            evaluators=[{"evaluator_id": s.trace_judge.id, "query_mappings": TRACE_MAPPING}],
        ),
        400,
        lambda s: (
            "The task mixes the span shape ('query_filter', evaluator 'query_filter' / 'column_mappings') "
            "with the trace/session shape ('query_filters', evaluator 'query_mappings'); use one."
        ),
    ),
    (
        "evaluators of two scopes",
        lambda s: project_task_body(
            s.world, evaluators=[{"evaluator_id": s.world.template_eval.id}, {"evaluator_id": s.trace_judge.id}]
        ),
        422,
        lambda s: (
            f"Evaluator '{s.trace_judge.name}' evaluates traces (data_granularity TRACE) but evaluator "
            f"'{s.world.template_eval.name}' evaluates spans (data_granularity SPAN); one task evaluates one scope."
        ),
    ),
    (
        "trace and session evaluators",
        lambda s: project_task_body(
            s.world, evaluators=[{"evaluator_id": s.session_judge.id}, {"evaluator_id": s.trace_judge.id}]
        ),
        422,
        lambda s: (
            f"Evaluator '{s.trace_judge.name}' evaluates traces (data_granularity TRACE) but evaluator "
            f"'{s.session_judge.name}' evaluates sessions (data_granularity SESSION); one task evaluates one scope."
        ),
    ),
    (
        "code checks of two scopes",
        lambda s: project_task_body(
            s.world,
            type="code_evaluation",
            evaluators=[{"evaluator_id": s.session_code.id}, {"evaluator_id": s.world.code_eval.id}],
        ),
        422,
        lambda s: (
            f"Evaluator '{s.world.code_eval.name}' evaluates spans (data_granularity SPAN) but evaluator "
            f"'{s.session_code.name}' evaluates sessions (data_granularity SESSION); one task evaluates one scope."
        ),
    ),
    (
        "trace evaluator given column_mappings",
        lambda s: project_task_body(
            s.world, evaluators=[{"evaluator_id": s.trace_judge.id, "column_mappings": {"input": "attributes.x"}}]
        ),
        422,
        lambda s: (
            f"Evaluator '{s.trace_judge.name}' evaluates traces (data_granularity TRACE) and cannot take "
            "'column_mappings'; map its variables with 'query_mappings' and select with the task's 'query_filters'."
        ),
    ),
    (
        "session evaluator given a query_filter",
        lambda s: project_task_body(
            s.world, evaluators=[{"evaluator_id": s.session_judge.id, "query_filter": "span_kind = 'LLM'"}]
        ),
        422,
        lambda s: (
            f"Evaluator '{s.session_judge.name}' evaluates sessions (data_granularity SESSION) and cannot "
            "take a 'query_filter'; map its variables with 'query_mappings' and select with the task's 'query_filters'."
        ),
    ),
    (
        "span evaluator given query_mappings",
        lambda s: project_task_body(
            s.world,
            query_filters=LLM_SPANS,
            evaluators=[{"evaluator_id": s.world.template_eval.id, "query_mappings": TRACE_MAPPING}],
        ),
        422,
        lambda s: (
            f"Evaluator '{s.world.template_eval.name}' evaluates spans (data_granularity SPAN); map its "
            "variables with 'column_mappings', not 'query_mappings'."
        ),
    ),
    (
        "span evaluator under query_filters",
        lambda s: project_task_body(s.world, query_filters=LLM_SPANS),
        422,
        lambda s: (
            f"Evaluator '{s.world.template_eval.name}' evaluates spans (data_granularity SPAN); "
            "'query_filters' selects traces and sessions, so select spans with 'query_filter'."
        ),
    ),
    (
        "trace evaluator under a query_filter",
        lambda s: project_task_body(
            s.world, query_filter="span_kind = 'LLM'", evaluators=[{"evaluator_id": s.trace_judge.id}]
        ),
        422,
        lambda s: (
            f"Evaluator '{s.trace_judge.name}' evaluates traces (data_granularity TRACE); "
            "select them with 'query_filters', not 'query_filter'."
        ),
    ),
    (
        "query id the task does not declare",
        lambda s: project_task_body(
            s.world,
            query_filters=LLM_SPANS,
            evaluators=[
                {
                    "evaluator_id": s.trace_judge.id,
                    "query_mappings": [{"variable_name": "input", "query_ids": ["A", "C"], "attribute_path": "x"}],
                }
            ],
        ),
        400,
        lambda s: "'evaluators[0].query_mappings' refers to query ids C that 'query_filters' does not declare.",
    ),
    (
        "trace evaluator on a dataset",
        lambda s: {
            "name": unique("task"),
            "type": "template_evaluation",
            "dataset_id": s.world.dataset.id,
            "evaluators": [{"evaluator_id": s.trace_judge.id}],
        },
        422,
        lambda s: (
            f"Evaluator '{s.trace_judge.name}' evaluates traces (data_granularity TRACE); dataset-based "
            "tasks evaluate experiment runs and need span-level evaluators."
        ),
    ),
    (
        "unpinned evaluator whose newest version evaluates traces",
        lambda s: project_task_body(
            s.world, evaluators=[{"evaluator_id": s.turned_trace.id, "column_mappings": {"input": "attributes.x"}}]
        ),
        422,
        lambda s: (
            f"Evaluator '{s.turned_trace.name}' evaluates traces (data_granularity TRACE) and cannot take "
            "'column_mappings'; map its variables with 'query_mappings' and select with the task's 'query_filters'."
        ),
    ),
]


@pytest.mark.parametrize(("body", "status", "detail"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_scope_rule_has_its_status_and_message(
    scoped: Scoped,
    http: httpx.Client,
    body: Callable[[Scoped], dict[str, Any]],
    status: int,
    detail: Callable[[Scoped], str],
) -> None:
    _refused(http, body(scoped), status, detail(scoped), scoped.world.space["id"])


def test_tasks_of_one_scope_in_their_shape_are_accepted(scoped: Scoped, http: httpx.Client) -> None:
    s = scoped
    bodies = [
        project_task_body(
            s.world,
            query_filters=LLM_SPANS,
            evaluators=[{"evaluator_id": s.trace_judge.id, "query_mappings": TRACE_MAPPING}],
        ),
        project_task_body(s.world, evaluators=[{"evaluator_id": s.session_judge.id}]),
        project_task_body(s.world, type="code_evaluation", evaluators=[{"evaluator_id": s.session_code.id}]),
        # a version pinned before the evaluator turned to traces still evaluates spans
        project_task_body(
            s.world,
            query_filter="span_kind = 'LLM'",
            evaluators=[
                {
                    "evaluator_id": s.turned_trace.id,
                    "evaluator_version_id": s.turned_trace.version_ids[0],
                    "column_mappings": {"input": "attributes.input.value"},
                }
            ],
        ),
    ]
    for body in bodies:
        created = http.post("/v2/tasks", json=body)
        assert created.status_code == 201, created.text


def test_an_update_that_breaks_a_rule_changes_nothing(scoped: Scoped, http: httpx.Client) -> None:
    s = scoped
    body = project_task_body(s.world, query_filter="span_kind = 'LLM'")
    task = http.post("/v2/tasks", json=body).json()
    before = http.get(f"/v2/tasks/{task['id']}").json()

    assert_problem(
        http.patch(f"/v2/tasks/{task['id']}", json={"evaluators": [{"evaluator_id": s.trace_judge.id}]}),
        422,
        f"Evaluator '{s.trace_judge.name}' evaluates traces (data_granularity TRACE); "
        "select them with 'query_filters', not 'query_filter'.",
    )
    assert_problem(
        http.patch(f"/v2/tasks/{task['id']}", json={"query_filters": LLM_SPANS}),
        422,
        f"Evaluator '{s.world.template_eval.name}' evaluates spans",
    )
    assert http.get(f"/v2/tasks/{task['id']}").json() == before
    switched = http.patch(
        f"/v2/tasks/{task['id']}",
        json={
            "query_filters": LLM_SPANS,
            "evaluators": [{"evaluator_id": s.trace_judge.id, "query_mappings": TRACE_MAPPING}],
        },
    )
    assert switched.status_code == 200, switched.text
    assert switched.json()["query_filter"] is None


def test_sdk_sees_the_rule_naming_the_evaluator(server: Server, scoped: Scoped) -> None:
    s = scoped
    name = unique("sdk-scope")
    with pytest.raises(ApiException) as caught:
        server.sdk().tasks.create_evaluation_task(
            name=name,
            task_type="TEMPLATE_EVALUATION",
            project=s.world.project["id"],
            evaluators=[span_evaluator(s.trace_judge.id, column_mappings={"input": "attributes.input.value"})],
        )
    assert caught.value.status == 422
    assert f"Evaluator '{s.trace_judge.name}' evaluates traces (data_granularity TRACE)" in caught.value.body
    assert server.sdk().tasks.list(space=s.world.space["id"], name=name).tasks == []
