"""Trace- and session-scope tasks end to end: spans sent by the OpenTelemetry exporter, tasks
made and triggered through the ``arize`` SDK, one evaluation per admitted trace or session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from arize._generated.api_client.models import TaskEvaluatorInput, TraceOrSessionEvaluatorInput
from arize.tasks.types import TaskQueryFilter, TaskQueryFilters
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from sqlalchemy import select

from evalplane.core.ids import Kind, decode_id
from evalplane.db.models import SessionEvaluation, TaskRun, TraceEvaluation, WorkUnit
from evalplane.engine.sampling import sampled
from tests.arrange import in_db
from tests.conftest import start_server
from tests.support import Api, LlmServer, Server, drop_pg_database, unique
from tests.support_spans import project_id_named
from tests.test_engine import CHOICES, code_evaluator, integration, wait_until

SINCE = timedelta(hours=1)


@pytest.fixture(scope="module")
def scoped_server(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """An engine server whose traces go idle after 1 s and sessions after 2 s."""
    srv, pg_name = start_server(
        server.backend,
        tmp_path_factory.mktemp(f"scopes-{server.backend}"),
        EVALPLANE_TICK_SECONDS="0.2",
        EVALPLANE_TRACE_IDLE_SECONDS="1",
        EVALPLANE_SESSION_IDLE_SECONDS="2",
    )
    yield srv
    srv.stop()
    if pg_name:
        drop_pg_database(pg_name)


@dataclass
class Scene:
    server: Server
    api: Api
    space: dict[str, Any]
    judge: dict[str, Any]
    project: str


@pytest.fixture
def scene(scoped_server: Server, llm: LlmServer) -> Iterator[Scene]:
    with scoped_server.http() as http:
        api = Api(http)
        space = api.space()
        yield Scene(scoped_server, api, space, integration(api, space["id"], llm), unique("proj"))


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str  # the CHAIN root's output
    llm_output: str  # its LLM child's output
    model: str = "gpt-4o"
    session: str | None = None


def send(scene: Scene, turns: list[Turn]) -> list[str]:
    """One trace per turn (a CHAIN root and an LLM child) through the OTLP exporter; their ids."""
    provider = TracerProvider(resource=Resource.create({"openinference.project.name": scene.project}))
    exporter = OTLPSpanExporter(
        endpoint=f"{scene.server.base_url}/v1/traces",
        headers={"authorization": f"Bearer {scene.server.admin_key}", "arize-space-id": scene.space["id"]},
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    trace_ids = []
    for turn in turns:
        root_attributes = {
            "openinference.span.kind": "CHAIN",
            "input.value": turn.question,
            "output.value": turn.answer,
        }
        if turn.session:
            root_attributes["session.id"] = turn.session
        with tracer.start_as_current_span("agent", attributes=root_attributes) as root:
            child = {
                "openinference.span.kind": "LLM",
                "llm.model_name": turn.model,
                "input.value": turn.question,
                "output.value": turn.llm_output,
            }
            if turn.session:
                child["session.id"] = turn.session
            with tracer.start_as_current_span("llm", attributes=child):
                pass
        trace_ids.append(format(root.get_span_context().trace_id, "032x"))
    provider.shutdown()
    return trace_ids


def project_id(scene: Scene) -> str:
    return wait_until(lambda: _project_id(scene), 10, "the project")


def _project_id(scene: Scene) -> str | None:
    try:
        return project_id_named(scene.api.client, scene.space["id"], scene.project)
    except Exception:  # noqa: BLE001 - not there yet
        return None


def judge_evaluator(scene: Scene, scope: str, template: str) -> dict[str, Any]:
    body = {
        "space_id": scene.space["id"],
        "name": unique("ev"),
        "type": "TEMPLATE",
        "version": {
            "commit_message": "first",
            "template_config": {
                "name": unique("judged"),
                "template": template,
                "include_explanations": True,
                "use_function_calling": True,
                "classification_choices": CHOICES,
                "data_granularity": scope,
                "llm_config": {"ai_integration_id": scene.judge["id"], "model_name": "judge-1"},
            },
        },
    }
    return scene.api.ok(scene.api.client.post("/v2/evaluators", json=body), 201)


def scoped_task(
    scene: Scene,
    evaluator: dict[str, Any],
    filters: dict[str, str] | None,
    mappings: list[dict[str, Any]] | None = None,
    *,
    expression: str | None = None,
    task_type: str = "TEMPLATE_EVALUATION",
    **fields: Any,
) -> Any:
    query_filters = None
    if filters:
        query_filters = TaskQueryFilters(
            filters=[TaskQueryFilter(id=key, filter=text) for key, text in filters.items()], expression=expression
        )
    return scene.server.sdk().tasks.create_evaluation_task(
        name=unique("task"),
        task_type=task_type,
        project=project_id(scene),
        query_filters=query_filters,
        evaluators=[
            TaskEvaluatorInput(TraceOrSessionEvaluatorInput(evaluator_id=evaluator["id"], query_mappings=mappings))
        ],
        **fields,
    )


def backfill(scene: Scene, task: Any, **fields: Any) -> Any:
    client = scene.server.sdk()
    run = client.tasks.trigger_run(task=task.id, data_start_time=datetime.now(UTC) - SINCE, **fields)
    return client.tasks.wait_for_run(run_id=run.id, poll_interval=0.3, timeout=60)


def stored(scene: Scene, table: Any, name: str) -> dict[str, tuple[Any, ...]]:
    """The trace (session) evaluations of that name: {trace or session id: (label, score, run)}."""
    key = table.trace_id if table is TraceEvaluation else table.session_id

    async def work(session: Any) -> list[Any]:
        stmt = select(key, table.label, table.score, table.task_run_id).where(table.name == name)
        return list((await session.execute(stmt)).all())

    return {row[0]: tuple(row[1:]) for row in in_db(scene.server, work)}


SIX = [
    Turn("q0", "a0", "[[label:correct]] 0"),
    Turn("q1", "a1", "[[label:incorrect]] 1"),
    Turn("q2", "a2", "[[label:correct]] 2"),
    Turn("q3", "a3", "[[label:correct]] 3"),
    Turn("q4", "a4", "[[label:correct]] 4", model="other"),
    Turn("q5", "a5", "[[label:correct]] 5", model="other"),
]
GPT4O = {"A": "span_kind = 'LLM' AND attributes.llm.model_name = 'gpt-4o'"}
QUESTIONS = [{"variable_name": "questions", "query_ids": [], "attribute_path": "attributes.input.value"}]
FROM_LLM = [{"variable_name": "output", "query_ids": ["A"], "attribute_path": "attributes.output.value"}]


def test_trace_backfill_evaluates_each_admitted_trace_once(scene: Scene, llm: LlmServer) -> None:
    traces = send(scene, SIX)
    evaluator = judge_evaluator(scene, "TRACE", "Question: {input}\nAnswer: {output}\nCorrect?")
    name = evaluator_name(scene, evaluator)
    task = scoped_task(scene, evaluator, GPT4O, FROM_LLM)
    done = backfill(scene, task)
    # traces 4 and 5 have no gpt-4o span: not admitted; the four others are judged on their LLM output
    assert (done.status, done.num_successes, done.num_errors, done.num_skipped) == ("COMPLETED", 4, 0, 0)
    results = stored(scene, TraceEvaluation, name)
    assert {t: r[:2] for t, r in results.items()} == {
        traces[0]: ("correct", 1.0),
        traces[1]: ("incorrect", 0.0),
        traces[2]: ("correct", 1.0),
        traces[3]: ("correct", 1.0),
    }
    # every span of a judged trace answers to trace_eval.<name>.*
    assert spans_where(scene, f"trace_eval.{name}.label = 'correct'") == {traces[0], traces[2], traces[3]}
    assert spans_where(scene, f"trace_eval.{name}.score < 1") == {traces[1]}
    calls = llm.stats().get("chat_completions", 0)
    again = backfill(scene, task)
    assert (again.status, again.num_successes, again.num_skipped) == ("COMPLETED", 0, 4)
    assert llm.stats().get("chat_completions", 0) == calls  # nothing judged twice
    redone = backfill(scene, task, override_evaluations=True)
    assert (redone.status, redone.num_successes) == ("COMPLETED", 4)
    results = stored(scene, TraceEvaluation, name)
    assert len(results) == 4 and {r[2] for r in results.values()} == {run_number(redone)}  # replaced, not added


def spans_where(scene: Scene, text: str) -> set[str]:
    """The trace ids of the project's spans that ``POST /v2/spans`` returns for the filter, and
    that every span of those traces came back."""
    body = {"project_id": project_id(scene), "filter": text}
    response = scene.api.client.post("/v2/spans", params={"limit": 500}, json=body)
    assert response.status_code == 200, response.text
    spans = response.json()["spans"]
    traces = {span["context"]["trace_id"] for span in spans}
    assert len(spans) == 2 * len(traces)  # a root and its LLM child each
    return traces


def run_number(run: Any) -> int:
    return decode_id(Kind.TASK_RUN, run.id)


def evaluator_name(scene: Scene, evaluator: dict[str, Any]) -> str:
    version = scene.api.client.get(f"/v2/evaluators/{evaluator['id']}").json()
    return str(_find_name(version))


def _find_name(node: Any) -> Any:
    if isinstance(node, dict):
        for key in ("template_config", "code_config"):
            if key in node and isinstance(node[key], dict) and "name" in node[key]:
                return node[key]["name"]
        for value in node.values():
            found = _find_name(value)
            if found:
                return found
    return None


def test_trace_expression_not_and_sampling_count_traces(scene: Scene) -> None:
    traces = send(scene, SIX)
    evaluator = judge_evaluator(scene, "TRACE", "Question: {input}\nAnswer: {output}\nCorrect?")
    name = evaluator_name(scene, evaluator)
    filters = {"A": "span_kind = 'CHAIN'", "B": "attributes.llm.model_name = 'gpt-4o'"}
    from_root = [{"variable_name": "input", "query_ids": ["A"], "attribute_path": "input.value"}]
    task = scoped_task(scene, evaluator, filters, from_root, expression="A AND NOT B")
    done = backfill(scene, task)
    # only traces 4 and 5 lack a gpt-4o span; the unmapped output is the root span's
    assert (done.status, done.num_successes + done.num_errors) == ("COMPLETED", 2)
    assert set(stored(scene, TraceEvaluation, name)) == {traces[4], traces[5]}
    capped = scoped_task(scene, judge_evaluator(scene, "TRACE", "Q: {input} A: {output}"), None, QUESTIONS)
    limited = backfill(scene, capped, max_spans=3)
    assert limited.num_successes + limited.num_errors + limited.num_skipped == 3  # max_spans counts traces
    halved = judge_evaluator(scene, "TRACE", "Q: {input} A: {output}")
    sampled_task = scoped_task(scene, halved, None, QUESTIONS, sampling_rate=0.5)
    backfill(scene, sampled_task)
    # the sample hashes trace ids, the same ones on every run
    assert set(stored(scene, TraceEvaluation, evaluator_name(scene, halved))) == {t for t in traces if sampled(t, 0.5)}


def test_trace_code_evaluator_and_a_mapping_nothing_resolves(scene: Scene) -> None:
    traces = send(scene, [Turn("q", "a", "please refund me"), Turn("q", "a", "thanks")])
    config = {
        "type": "MANAGED",
        "name": unique("refund"),
        "managed_evaluator": "CONTAINS_ANY_KEYWORD",
        "variables": ["output"],
        "data_granularity": "TRACE",
        "static_params": [{"name": "keywords", "type": "STRING_ARRAY", "default_value": ["refund"]}],
    }
    evaluator = code_evaluator(scene.api, scene.space["id"], config)
    everything = [{"variable_name": "output", "query_ids": [], "attribute_path": "attributes.output.value"}]
    task = scoped_task(scene, evaluator, None, everything, task_type="CODE_EVALUATION")
    done = backfill(scene, task)
    assert (done.status, done.num_successes) == ("COMPLETED", 2)
    results = stored(scene, TraceEvaluation, config["name"])
    assert {t: r[0] for t, r in results.items()} == {traces[0]: "true", traces[1]: "false"}
    nowhere = [{"variable_name": "output", "query_ids": [], "attribute_path": "attributes.no.such.path"}]
    broken = scoped_task(scene, evaluator, None, nowhere, task_type="CODE_EVALUATION")
    failed = backfill(scene, broken)
    assert failed.status == "FAILED"
    assert "none of the 2 traces had a value for 'output'" in failed.failure_reason


def test_continuous_trace_task_waits_for_idle_traces(scene: Scene) -> None:
    send(scene, [Turn("warm", "up", "x")])  # the project exists before the task
    evaluator = judge_evaluator(scene, "TRACE", "Question: {input}\nAnswer: {output}\nCorrect?")
    name = evaluator_name(scene, evaluator)
    task = scoped_task(scene, evaluator, GPT4O, FROM_LLM, is_continuous=True)
    traces = send(scene, SIX)
    results = wait_until(
        lambda: len(stored(scene, TraceEvaluation, name)) >= 4 and stored(scene, TraceEvaluation, name)
    )
    assert set(results) == set(traces[:4])  # the two traces without a gpt-4o span get nothing
    counters = in_db(scene.server, lambda s: _continuous_counters(s, decode_id(Kind.TASK, task.id)))
    assert counters == (4, 0, 0)  # traces turned away by the filters are not counted


async def _continuous_counters(session: Any, task_id: int) -> tuple[int, int, int]:
    run = await session.scalar(select(TaskRun).where(TaskRun.task_id == task_id, TaskRun.kind == "CONTINUOUS"))
    return run.num_successes, run.num_errors, run.num_skipped


def test_sessions_are_evaluated_once_idle_and_again_when_they_grow(scene: Scene) -> None:
    send(scene, [Turn("warm", "up", "x")])
    config = {
        "type": "MANAGED",
        "name": unique("refund"),
        "managed_evaluator": "CONTAINS_ANY_KEYWORD",
        "variables": ["conversation"],
        "data_granularity": "SESSION",
        "static_params": [{"name": "keywords", "type": "STRING_ARRAY", "default_value": ["refund"]}],
    }
    evaluator = code_evaluator(scene.api, scene.space["id"], config)
    task = scoped_task(
        scene, evaluator, {"A": "span_kind = 'LLM'"}, QUESTIONS, task_type="CODE_EVALUATION", is_continuous=True
    )
    first, second = unique("s"), unique("s")
    send(scene, [Turn("hi", "hello", "x", session=first), Turn("order?", "shipped", "y", session=first)])
    send(scene, [Turn("refund?", "yes, a refund", "z", session=second)])
    name = config["name"]
    seen = wait_until(
        lambda: len(stored(scene, SessionEvaluation, name)) == 2 and stored(scene, SessionEvaluation, name)
    )
    assert {s: r[0] for s, r in seen.items()} == {first: "false", second: "true"}
    send(scene, [Turn("can I get a refund", "sure", "w", session=first)])
    grown = wait_until(
        lambda: (
            stored(scene, SessionEvaluation, name).get(first, ("",))[0] == "true"
            and stored(scene, SessionEvaluation, name)
        )
    )
    assert len(grown) == 2  # replaced, never a second row
    units = in_db(scene.server, lambda s: _unit_states(s, decode_id(Kind.TASK, task.id)))
    assert sorted(units) == ["SUCCEEDED", "SUCCEEDED"]  # one unit per session


async def _unit_states(session: Any, task_id: int) -> list[str]:
    return list((await session.scalars(select(WorkUnit.state).where(WorkUnit.task_id == task_id))).all())


def test_session_backfill_judges_the_conversation(scene: Scene) -> None:
    one, two = unique("s"), unique("s")
    traces = send(
        scene,
        [
            Turn("first", "[[label:correct]] fine", "x", session=one),
            Turn("second", "later", "y", session=one),
            Turn("only", "[[label:incorrect]] nope", "z", session=two),
            Turn("no session", "[[label:correct]]", "z"),
        ],
    )
    evaluator = judge_evaluator(scene, "SESSION", "Conversation: {conversation}\nWas the user helped?")
    name = evaluator_name(scene, evaluator)
    task = scoped_task(scene, evaluator, {"A": "span_kind = 'CHAIN'"}, QUESTIONS)
    done = backfill(scene, task)
    assert (done.status, done.num_successes, done.num_errors, done.num_skipped) == ("COMPLETED", 2, 0, 0)
    results = stored(scene, SessionEvaluation, name)
    assert {s: r[0] for s, r in results.items()} == {one: "correct", two: "incorrect"}
    assert spans_where(scene, f"session_eval.{name}.label = 'incorrect'") == {traces[2]}
    assert len(spans_where(scene, f"session_eval.{name}.label IS NOT NULL")) == 3  # both sessions' traces


def test_a_scope_that_changed_after_the_task_was_saved_fails_the_run_with_why(scene: Scene) -> None:
    send(scene, SIX[:2])
    evaluator = judge_evaluator(scene, "TRACE", "Question: {input}\nAnswer: {output}\nCorrect?")
    task = scoped_task(scene, evaluator, GPT4O, FROM_LLM)
    # a new version of the evaluator (the task follows the newest) is span-scoped
    version = {
        "commit_message": "now per span",
        "template_config": {**_template_config(scene, evaluator), "data_granularity": "SPAN"},
    }
    scene.api.ok(scene.api.client.post(f"/v2/evaluators/{evaluator['id']}/versions", json=version), 201)
    done = backfill(scene, task)
    assert done.status == "FAILED"
    assert done.failure_reason == (
        "The task is trace/session-shaped (it has query_filters) but its evaluators are SPAN-scoped."
    )
    assert stored(scene, TraceEvaluation, evaluator_name(scene, evaluator)) == {}


def _template_config(scene: Scene, evaluator: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": evaluator_name(scene, evaluator),
        "template": "Question: {input}\nAnswer: {output}",
        "include_explanations": False,
        "use_function_calling": True,
        "classification_choices": CHOICES,
        "llm_config": {"ai_integration_id": scene.judge["id"], "model_name": "judge-1"},
    }
