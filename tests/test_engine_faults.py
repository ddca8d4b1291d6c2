"""The engine survives its processes dying: a worker killed with SIGKILL mid-backfill (its
leases expire and another worker redoes the units), a worker stopped with SIGTERM (it
finishes or hands back its batch at once), and on SQLite the whole server killed and
restarted. In every case the run completes with every span (trace) evaluated exactly once
and counters that match the rows. And it survives its provider failing: rate limits and
server errors are retried to success, rejected credentials fail the run at once — at span
scope in test_engine.py and test_judge.py, at trace scope here."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from arize._generated.api_client.models import TaskEvaluatorInput, TraceOrSessionEvaluatorInput
from arize.tasks.types import TaskQueryFilter, TaskQueryFilters

from tests.conftest import DATABASES, start_server
from tests.support import Api, LlmServer, Server, drop_pg_database, unique, wait_until
from tests.support_engine import EngineWorld, integration, task_with, template_evaluator
from tests.support_engine_faults import (
    SECRET,
    WorkerProcess,
    evaluations_of_run,
    expected_counts,
    leased_by,
    recorded_by,
    run_row_id,
    seed_spans,
    send_traces,
    spans_in_project,
    sql,
    trace_evaluation_counts,
    unit_states,
)
from tests.support_spans import project_id_named

# Processes are killed and restarted mid-backfill over thousands of spans: the fast lane leaves it out.
pytestmark = pytest.mark.slow

# The figure; EVALPLANE_FAULT_SPANS lowers it for a quick local loop.
FAULT_SPANS = int(os.environ.get("EVALPLANE_FAULT_SPANS", "5000"))
FAST_LEASES = {"EVALPLANE_LEASE_SECONDS": "3", "EVALPLANE_TICK_SECONDS": "0.2"}


@pytest.fixture
def pg_cluster(tmp_path: Path) -> Iterator[tuple[Server, list[WorkerProcess], str]]:
    """An API process without an engine plus a factory for workers, on a fresh PostgreSQL database
    (several worker processes share one database only on PostgreSQL, so these tests run there)."""
    if "postgres" not in DATABASES:
        pytest.skip("EVALPLANE_TEST_DATABASES excludes PostgreSQL")
    # Every process must share the key that encrypts AI integration credentials.
    api_server, pg_name = start_server(
        "postgres", tmp_path / "api", EVALPLANE_WORKER="false", EVALPLANE_SECRET_KEY=SECRET
    )
    workers: list[WorkerProcess] = []
    try:
        yield api_server, workers, api_server.database_url
    finally:
        for worker in workers:
            worker.stop()
        api_server.stop()
        if pg_name:
            drop_pg_database(pg_name)


def add_worker(workers: list[WorkerProcess], server: Server, tmp_path: Path, **env: str) -> WorkerProcess:
    env = {"EVALPLANE_SECRET_KEY": SECRET, **env}
    worker = WorkerProcess(server.database_url, tmp_path / f"worker{len(workers)}", server.admin_key, env=env)
    workers.append(worker)
    return worker.start()


def backfill(server: Server, llm: LlmServer, spans: int) -> tuple[str, str, int]:
    """A project of ``spans`` judged spans and a triggered backfill over them: (project, run id, run row)."""
    with server.http() as http:
        api = Api(http)
        space = api.space()
        judge = integration(api, space["id"], llm)
        evaluator = template_evaluator(api, space["id"], judge["id"], explain=False)
        project = unique("proj")
        seed_spans(server, space["id"], project, spans)
        project_id = project_id_named(http, space["id"], project)
    client = server.sdk()
    task = task_with(client, project_id, evaluator["id"])
    run = client.tasks.trigger_run(task=task.id, data_start_time=datetime.now(UTC) - timedelta(hours=2))
    return project, run.id, run_row_id(run.id)


def assert_exactly_once(server: Server, project: str, run_id: str, run_row: int, spans: int) -> None:
    """The run completed; one evaluation per judged span; counters equal the unit rows."""
    done = server.sdk().tasks.get_run(run_id=run_id)
    assert done.status == "COMPLETED", done
    assert spans_in_project(server.database_url, project) == spans
    assert (done.num_successes, done.num_errors, done.num_skipped) == expected_counts(spans)
    states = unit_states(server.database_url, run_row)
    assert states == {
        k: v
        for k, v in {"SUCCEEDED": done.num_successes, "ERRORED": done.num_errors, "SKIPPED": done.num_skipped}.items()
        if v
    }
    evaluated = Counter(span for span, _ in evaluations_of_run(server.database_url, run_row))
    assert len(evaluated) == done.num_successes and set(evaluated.values()) == {1}


def wait_for_run(server: Server, run_id: str, timeout: float) -> str:
    """The run's final status; a failure reason, if any, comes along for the assertion message."""
    client = server.sdk()
    run = wait_until(
        lambda: (r := client.tasks.get_run(run_id=run_id)).status in ("COMPLETED", "FAILED", "CANCELLED") and r,
        timeout,
        "the run to end",
        interval=0.5,
    )
    return run.status if run.status == "COMPLETED" else f"{run.status}: {run.failure_reason}"


def done_units(server: Server, run_row: int) -> int:
    states = unit_states(server.database_url, run_row)
    return sum(v for k, v in states.items() if k not in ("PENDING", "LEASED"))


def test_killing_a_worker_mid_backfill_loses_and_duplicates_nothing(pg_cluster, llm: LlmServer, tmp_path: Path) -> None:
    server, workers, url = pg_cluster
    # Sixteen calls in flight per worker keep the run going for seconds after the first
    # tenth, so the first worker is caught with leases in hand however fast the engine gets.
    slow = {**FAST_LEASES, "EVALPLANE_PROVIDER_CONCURRENCY": "16"}
    first = add_worker(workers, server, tmp_path, **slow)
    second = add_worker(workers, server, tmp_path, **slow)
    llm.control(latency_ms=20)
    try:
        project, run_id, run_row = backfill(server, llm, FAULT_SPANS)
        wait_until(lambda: done_units(server, run_row) >= FAULT_SPANS // 10, 120, "a tenth of the run")
        # Which worker claims first is a race: kill the first only once it has recorded work of
        # its own, so it dies mid-run with results behind it and leases in hand.
        wait_until(lambda: recorded_by(url, run_row, first.name or "") > 0, 60, "the first worker to record results")
        wait_until(lambda: leased_by(url, first.name or "") > 0, 30, "the first worker to hold leases", interval=0.02)
        first.kill()
        orphaned = leased_by(url, first.name or "")
        assert orphaned > 0  # it died holding work: only lease expiry can give it back
        assert wait_for_run(server, run_id, 300) == "COMPLETED"
    finally:
        llm.control(latency_ms=0)
    assert_exactly_once(server, project, run_id, run_row, FAULT_SPANS)
    redone = sql(url, "SELECT count(*) FROM work_units WHERE run_id = $1 AND attempts > 1", run_row)[0][0]
    assert redone >= orphaned
    recorders = Counter(meta["worker"] for _, meta in evaluations_of_run(url, run_row))
    assert set(recorders) == {first.name, second.name}


@pytest.mark.parametrize(
    ("latency_ms", "grace", "spans", "outcome"),
    [(300, "10", 200, "finishes its batches"), (2000, "0.2", 80, "hands its batches back")],
    ids=["finish", "hand-back"],
)
@pytest.mark.parametrize("scope", ["span", "trace"])
def test_sigterm_leaves_no_lease_behind(
    pg_cluster, llm: LlmServer, tmp_path: Path, latency_ms: int, grace: str, spans: int, outcome: str, scope: str
) -> None:
    server, workers, url = pg_cluster
    # Leases far longer than the test: any unit left leased would stall the run visibly.
    # Small batches, so one worker cannot lease the whole run before the other wakes up.
    env = {
        "EVALPLANE_LEASE_SECONDS": "120",
        "EVALPLANE_TICK_SECONDS": "0.2",
        "EVALPLANE_SHUTDOWN_GRACE_SECONDS": grace,
        "EVALPLANE_PROVIDER_CONCURRENCY": "16",
        "EVALPLANE_WORKER_BATCH_SIZE": "8",
    }
    stopping = add_worker(workers, server, tmp_path, **env)
    add_worker(workers, server, tmp_path, **env)
    llm.control(latency_ms=latency_ms)
    try:
        start, _ = SCOPES[scope]
        project, run_id, run_row = start(server, llm, spans)
        wait_until(lambda: leased_by(url, stopping.name or "") > 0, 60, "the worker to hold leases", interval=0.02)
        code, took = stopping.terminate()
        assert code == 0, stopping.log()
        assert took < float(grace) + 5
        assert leased_by(url, stopping.name or "") == 0, outcome
        if outcome == "hands its batches back":
            assert "unfinished units back to the queue" in stopping.log()
        started = time.monotonic()
        assert wait_for_run(server, run_id, 100) == "COMPLETED"
        assert time.monotonic() - started < 100  # well inside the 120 s lease: nothing waited for expiry
    finally:
        llm.control(latency_ms=0)
    _, check = SCOPES[scope]
    check(server, project, run_id, run_row, spans)


def test_two_workers_share_a_backfill(pg_cluster, llm: LlmServer, tmp_path: Path) -> None:
    """Scale-out sanity: with a slow judge, both workers take part (throughput figures are in bench/)."""
    server, workers, url = pg_cluster
    env = {"EVALPLANE_TICK_SECONDS": "0.2", "EVALPLANE_PROVIDER_CONCURRENCY": "8", "EVALPLANE_WORKER_BATCH_SIZE": "8"}
    first = add_worker(workers, server, tmp_path, **env)
    second = add_worker(workers, server, tmp_path, **env)
    spans = 300
    llm.control(latency_ms=100)
    try:
        project, run_id, run_row = backfill(server, llm, spans)
        assert wait_for_run(server, run_id, 120) == "COMPLETED"
    finally:
        llm.control(latency_ms=0)
    assert_exactly_once(server, project, run_id, run_row, spans)
    recorders = Counter(meta["worker"] for _, meta in evaluations_of_run(url, run_row))
    assert set(recorders) == {first.name, second.name}
    assert min(recorders.values()) > sum(recorders.values()) // 5  # neither idled


def test_sqlite_server_killed_mid_backfill_finishes_after_restart(llm: LlmServer, tmp_path: Path) -> None:
    if "sqlite" not in DATABASES:
        pytest.skip("EVALPLANE_TEST_DATABASES excludes SQLite")
    single, _ = start_server("sqlite", tmp_path / "home", **FAST_LEASES)
    spans = min(FAULT_SPANS, 2000)
    llm.control(latency_ms=20)
    try:
        project, run_id, run_row = backfill(single, llm, spans)
        wait_until(lambda: done_units(single, run_row) >= spans // 10, 120, "a tenth of the run")
        assert single.process is not None
        single.process.kill()
        single.process.wait()
        assert done_units(single, run_row) < spans
        single.start()
        assert wait_for_run(single, run_id, 240) == "COMPLETED"
        assert_exactly_once(single, project, run_id, run_row, spans)
    finally:
        llm.control(latency_ms=0)
        single.stop()


def trace_task(client: Any, project_id: str, evaluator_id: str, filters: dict[str, str] | None = None) -> Any:
    """A trace-scope task judging the ``output`` of the spans ``filters`` (ids A–E) match, or of all spans."""
    output = {"variable_name": "output", "query_ids": list(filters or []), "attribute_path": "attributes.output.value"}
    query_filters = None
    if filters:
        query_filters = TaskQueryFilters(
            filters=[TaskQueryFilter(id=k, filter=v) for k, v in filters.items()], expression=" OR ".join(filters)
        )
    return client.tasks.create_evaluation_task(
        name=unique("task"),
        task_type="TEMPLATE_EVALUATION",
        project=project_id,
        query_filters=query_filters,
        evaluators=[
            TaskEvaluatorInput(TraceOrSessionEvaluatorInput(evaluator_id=evaluator_id, query_mappings=[output]))
        ],
    )


def trace_backfill(server: Server, llm: LlmServer, traces: int) -> tuple[str, str, int]:
    """``backfill`` at trace scope: each seeded span is a trace of its own, judged as a trace."""
    with server.http() as http:
        api = Api(http)
        space = api.space()
        judge = integration(api, space["id"], llm)
        evaluator = template_evaluator(api, space["id"], judge["id"], explain=False, scope="TRACE")
        project = unique("proj")
        seed_spans(server, space["id"], project, traces)
        project_id = project_id_named(http, space["id"], project)
    client = server.sdk()
    task = trace_task(client, project_id, evaluator["id"])
    run = client.tasks.trigger_run(task=task.id, data_start_time=datetime.now(UTC) - timedelta(hours=2))
    return project, run.id, run_row_id(run.id)


def assert_traces_exactly_once(server: Server, project: str, run_id: str, run_row: int, traces: int) -> None:
    """``assert_exactly_once`` for ``trace_backfill``: one evaluation per judged trace."""
    done = server.sdk().tasks.get_run(run_id=run_id)
    assert done.status == "COMPLETED", done
    assert (done.num_successes, done.num_errors, done.num_skipped) == expected_counts(traces)
    states = unit_states(server.database_url, run_row)
    assert states == {"SUCCEEDED": done.num_successes, "ERRORED": done.num_errors, "SKIPPED": done.num_skipped}
    evaluated = trace_evaluation_counts(server.database_url, run_row)
    assert len(evaluated) == done.num_successes and set(evaluated.values()) == {1}


# How each scope's backfill is started and checked.
SCOPES = {"span": (backfill, assert_exactly_once), "trace": (trace_backfill, assert_traces_exactly_once)}


@pytest.mark.slow
def test_killing_a_worker_mid_trace_backfill_loses_and_duplicates_nothing(
    pg_cluster, llm: LlmServer, tmp_path: Path
) -> None:
    server, workers, url = pg_cluster
    # Trace units are few and cheap: with 128 judge calls in flight the whole run can end
    # between two polls. Eight calls per worker at 100 ms keep it going for seconds, so the
    # first worker is always caught with leases in hand.
    slow = {**FAST_LEASES, "EVALPLANE_PROVIDER_CONCURRENCY": "8"}
    first = add_worker(workers, server, tmp_path, **slow)
    second = add_worker(workers, server, tmp_path, **slow)
    traces = max(200, FAULT_SPANS // 5)
    llm.control(latency_ms=100)
    try:
        project, run_id, run_row = trace_backfill(server, llm, traces)
        wait_until(lambda: done_units(server, run_row) >= traces // 10, 120, "a tenth of the run")
        recorded = lambda: recorded_by(url, run_row, first.name or "", "trace_evaluations")  # noqa: E731
        wait_until(lambda: recorded() > 0, 60, "the first worker to record results")
        wait_until(lambda: leased_by(url, first.name or "") > 0, 30, "the first worker to hold leases", interval=0.02)
        first.kill()
        orphaned = leased_by(url, first.name or "")
        assert orphaned > 0
        assert wait_for_run(server, run_id, 300) == "COMPLETED"
    finally:
        llm.control(latency_ms=0)
    assert_traces_exactly_once(server, project, run_id, run_row, traces)
    redone = sql(url, "SELECT count(*) FROM work_units WHERE run_id = $1 AND attempts > 1", run_row)[0][0]
    assert redone >= orphaned
    recorders = Counter(m["worker"] for _, m in evaluations_of_run(url, run_row, "trace_evaluations", "trace_id"))
    assert set(recorders) == {first.name, second.name}


LLM_ONLY = {"A": "span_kind = 'LLM'"}


def judged_traces(world: EngineWorld, judge_id: str, outputs: list[str]) -> tuple[str, Any]:
    """Traces answering ``outputs`` and a triggered trace-scope run judging their LLM spans: (run id, SDK)."""
    server, api, space, _ = world
    evaluator = template_evaluator(api, space["id"], judge_id, explain=False, scope="TRACE")
    project = unique("proj")
    send_traces(server, space["id"], project, outputs)
    project_id = project_id_named(api.client, space["id"], project)
    client = server.sdk()
    task = trace_task(client, project_id, evaluator["id"], LLM_ONLY)
    run = client.tasks.trigger_run(task=task.id, data_start_time=datetime.now(UTC) - timedelta(hours=1))
    return run.id, client


@pytest.mark.parametrize("status", [429, 503])
def test_provider_faults_at_trace_scope_are_retried_to_one_evaluation_each(
    engine_world: EngineWorld, llm: LlmServer, status: int
) -> None:
    # Every other trace's judge call fails twice first (the stand-in keys attempts by prompt).
    stamp = time.time_ns()
    fault = f"[[fail:{status}:2]] "
    outputs = [f"{fault if i % 2 == 0 else ''}answer {i} at {stamp}" for i in range(6)]
    before = llm.stats().get(f"fault_{status}", 0)
    run_id, client = judged_traces(engine_world, engine_world.judge["id"], outputs)
    done = client.tasks.wait_for_run(run_id=run_id, poll_interval=0.3, timeout=90)
    assert (done.status, done.num_successes, done.num_errors, done.num_skipped) == ("COMPLETED", 6, 0, 0), done
    assert llm.stats().get(f"fault_{status}", 0) - before == 3 * 2
    evaluated = trace_evaluation_counts(engine_world.server.database_url, run_row_id(run_id))
    assert len(evaluated) == 6 and set(evaluated.values()) == {1}


def test_rejected_credentials_fail_a_trace_run_fast_with_a_reason(engine_world: EngineWorld, llm: LlmServer) -> None:
    server, api, space, _ = engine_world
    bad = integration(api, space["id"], llm, key="bad-key")
    before = llm.stats().get("requests", 0)
    started = time.monotonic()
    run_id, client = judged_traces(engine_world, bad["id"], [f"answer {i}" for i in range(40)])
    done = client.tasks.wait_for_run(run_id=run_id, poll_interval=0.3, timeout=30)
    assert done.status == "FAILED", done
    assert "credentials were rejected" in (done.failure_reason or "")
    assert time.monotonic() - started < 20
    assert llm.stats().get("requests", 0) - before <= 32 + 1  # at most one batch reached the provider, no retry storm
    assert trace_evaluation_counts(server.database_url, run_row_id(run_id)) == {}
