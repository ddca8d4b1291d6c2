"""Units fail alone and are tried a bounded number of times.

The API and the database are a real server's (with its engine off); the engine runs here, in
the test, so an evaluator or a write can be made to break on purpose and the worker's death
can be played out step by step (claim, never finish, lease expires). What is checked is what
a user sees: the run's status and counters, and the results on the spans.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from arize._generated.api_client import SpanEvaluatorInput, TaskEvaluatorInput
from sqlalchemy import func, select

from evalplane.core.clock import utcnow
from evalplane.db.engine import Database
from evalplane.db.models import WorkUnit
from evalplane.engine import executor as executor_module
from evalplane.engine.executor import Executor
from evalplane.engine.service import Engine
from evalplane.engine.targets import TARGETS
from evalplane.jobs import units
from evalplane.server import build_engine
from evalplane.settings import Settings
from tests.conftest import start_server
from tests.support import Api, Server, drop_pg_database, unique
from tests.support_engine import keyword_evaluator
from tests.support_engine_faults import run_row_id
from tests.support_spans import evaluations, project_id_named, send_spans


@pytest.fixture(scope="module")
def quiet_server(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of the same database kind whose engine is off: the tests run it themselves."""
    srv, pg_name = start_server(
        server.backend, tmp_path_factory.mktemp(f"quiet-{server.backend}"), EVALPLANE_WORKER="false"
    )
    yield srv
    srv.stop()
    if pg_name:
        drop_pg_database(pg_name)


@pytest.fixture
async def engine(quiet_server: Server) -> AsyncIterator[Engine]:
    """An engine on the quiet server's database, driven step by step by the test."""
    settings = Settings(database_url=quiet_server.database_url, home=quiet_server.home, worker_batch_size=64)
    db = Database(settings.resolved_database_url(), pool_size=2)
    yield build_engine(settings, db, settings.resolved_secret_key())
    await db.dispose()


def arrange(server: Server, columns: list[str], outputs: list[str]) -> tuple[str, str]:
    """A new space with a project of ``outputs`` and a triggered run of one task holding one
    keyword evaluator per column; returns (project id, run id)."""
    with server.http() as http:
        api = Api(http)
        space = api.space()
        evaluators = [keyword_evaluator(api, space["id"], column) for column in columns]
        project = unique("proj")
        send_spans(server, space["id"], project, outputs)
        project_id = project_id_named(http, space["id"], project)
    client = server.sdk()
    task = client.tasks.create_evaluation_task(
        name=unique("task"),
        task_type="CODE_EVALUATION",
        project=project_id,
        evaluators=[TaskEvaluatorInput(SpanEvaluatorInput(evaluator_id=e["id"])) for e in evaluators],
    )
    run = client.tasks.trigger_run(task=task.id, data_start_time=datetime.now(UTC) - timedelta(hours=1))
    return project_id, run.id


async def drain(engine: Engine) -> None:
    """Tick and work until nothing is left to claim, then tick again to close finished runs."""
    await engine.scheduler.tick()
    while await engine.worker.run_once():
        pass
    await engine.scheduler.tick()


def run_of(server: Server, run_id: str) -> tuple[str, int, int, int]:
    run = server.sdk().tasks.get_run(run_id=run_id)
    return run.status, run.num_successes, run.num_errors, run.num_skipped


async def details(engine: Engine, run_id: str) -> dict[str, int]:
    async with engine.db.session() as session:
        rows = (
            await session.execute(select(WorkUnit.state, WorkUnit.detail).where(WorkUnit.run_id == run_row_id(run_id)))
        ).all()
    found: dict[str, int] = {}
    for state, detail in rows:
        key = f"{state}: {detail}" if detail else state
        found[key] = found.get(key, 0) + 1
    return found


async def test_an_evaluator_that_blows_up_fails_its_own_units_only(
    quiet_server: Server, engine: Engine, monkeypatch
) -> None:
    boom = unique("boom")
    managed = Executor._managed

    def exploding(self, evaluator, ready, result):  # type: ignore[no-untyped-def]
        if evaluator.name == boom:
            raise RuntimeError("kaboom\nsecond line not shown")
        return managed(self, evaluator, ready, result)

    monkeypatch.setattr(Executor, "_managed", exploding)
    outputs = ["a refund, please", "ok", "refund now"]
    # One space's task has a healthy and a broken evaluator (one batch, two groups);
    # another space's task only a healthy one.
    mixed_project, mixed_run = arrange(quiet_server, ["healthy", boom], outputs)
    other_project, other_run = arrange(quiet_server, ["healthy"], outputs)

    await drain(engine)

    assert run_of(quiet_server, other_run) == ("COMPLETED", 3, 0, 0)
    assert run_of(quiet_server, mixed_run) == ("COMPLETED", 3, 3, 0)
    assert await details(engine, mixed_run) == {
        "SUCCEEDED": 3,
        "ERRORED: evaluation failed unexpectedly: RuntimeError: kaboom": 3,
    }
    with quiet_server.http() as http:
        for project_id in (mixed_project, other_project):
            names = sorted(e["name"] for span in evaluations(http, project_id) for e in span)
            assert names == ["healthy"] * 3


async def test_a_result_that_cannot_be_stored_fails_alone(quiet_server: Server, engine: Engine, monkeypatch) -> None:
    spans = TARGETS["SPAN"]
    poisoned: set[int] = set()

    async def picky(session, dialect, results, now, worker):  # type: ignore[no-untyped-def]
        if any(result.unit.target_id in poisoned and result.state == units.SUCCEEDED for result in results):
            raise ValueError("this row cannot be written")
        await spans.store(session, dialect, results, now, worker)

    monkeypatch.setitem(TARGETS, "SPAN", dataclasses.replace(spans, store=picky))
    project_id, run_id = arrange(quiet_server, ["healthy"], ["refund", "ok", "refund too", "fine"])
    await engine.scheduler.tick()
    async with engine.db.session() as session:
        first = await session.scalar(select(func.min(WorkUnit.target_id)).where(WorkUnit.run_id == run_row_id(run_id)))
    poisoned.add(first)

    await drain(engine)

    assert run_of(quiet_server, run_id) == ("COMPLETED", 3, 1, 0)
    assert await details(engine, run_id) == {
        "SUCCEEDED": 3,
        "ERRORED: could not be recorded: evaluation failed unexpectedly: ValueError: this row cannot be written": 1,
    }
    with quiet_server.http() as http:
        assert sum(len(span) for span in evaluations(http, project_id)) == 3


async def test_a_unit_whose_worker_keeps_dying_ends_errored_and_is_counted_once(
    quiet_server: Server, engine: Engine
) -> None:
    project_id, run_id = arrange(quiet_server, ["healthy"], ["refund", "ok"])
    await engine.scheduler.tick()
    # Three workers claim the units and die: each time the lease runs out and they are reaped.
    for attempt in range(3):
        async with engine.db.session() as session:
            claimed = await units.claim(session, worker=f"doomed-{attempt}", limit=100, lease=timedelta(seconds=1))
            assert {c.run_id for c in claimed} == {run_row_id(run_id)} and len(claimed) == 2
        async with engine.db.session() as session:
            assert await units.reap(session, now=utcnow() + timedelta(minutes=1)) == 2

    await drain(engine)
    await drain(engine)  # nothing more happens to a finished unit

    assert run_of(quiet_server, run_id) == ("COMPLETED", 0, 2, 0)
    reason = "gave up after 3 attempts: the worker processing it stopped or stalled"
    assert await details(engine, run_id) == {f"ERRORED: {reason}": 2}
    with quiet_server.http() as http:
        assert evaluations(http, project_id) == [[], []]


async def test_handing_units_back_does_not_use_up_attempts(quiet_server: Server, engine: Engine) -> None:
    _, run_id = arrange(quiet_server, ["healthy"], ["refund", "ok"])
    await engine.scheduler.tick()
    # A provider asking to wait, or a worker shutting down, hands units back: not a failure.
    for _ in range(5):
        async with engine.db.session() as session:
            claimed = await units.claim(session, worker="polite", limit=100, lease=timedelta(seconds=30))
            assert await units.release(session, worker="polite", unit_ids=[c.id for c in claimed]) == 2

    await drain(engine)

    assert run_of(quiet_server, run_id) == ("COMPLETED", 2, 0, 0)


async def test_an_evaluator_that_fails_on_one_span_fails_that_unit_only(
    quiet_server: Server, engine: Engine, monkeypatch
) -> None:
    evaluate = executor_module.managed.evaluate

    def fussy(name, values, variables, params):  # type: ignore[no-untyped-def]
        if "ok" in str(values):
            raise KeyError("unexpected shape")
        return evaluate(name, values, variables, params)

    monkeypatch.setattr(executor_module.managed, "evaluate", fussy)
    project_id, run_id = arrange(quiet_server, ["healthy"], ["refund", "ok", "no refund"])

    await drain(engine)

    assert run_of(quiet_server, run_id) == ("COMPLETED", 2, 1, 0)
    assert await details(engine, run_id) == {
        "SUCCEEDED": 2,
        "ERRORED: evaluation failed unexpectedly: KeyError: 'unexpected shape'": 1,
    }
