"""Fair claims: one space's slow evaluator does not hold every worker slot, so another space's
quick task, triggered after it, finishes while the slow run is still far from done; and the
rule behind it, claim by claim: batches go round the spaces and their tasks, and a worker's
last free slot is kept for a space with nothing running."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evalplane.db.models import Space, Task, TaskRun
from evalplane.engine import executor as executor_module
from evalplane.engine.code.outcome import Outcome
from evalplane.engine.code.sandbox import Limits
from evalplane.engine.executor import Executor, Work
from evalplane.engine.plans import EvaluatorPlan
from evalplane.engine.providers.calls import Gates, RetryPolicy
from evalplane.engine.worker import Worker
from evalplane.jobs import units
from evalplane.jobs.units import Claimed, NewUnit
from tests.arrange import a_space
from tests.conftest import start_server
from tests.support import Api, LlmServer, Server, drop_pg_database, unique, wait_until
from tests.support_engine import integration, keyword_evaluator, task_with, template_evaluator
from tests.support_spans import project_id_named, send_spans

SLOW_SPANS = 40


@pytest.fixture
def small_batches(server: Server, tmp_path: Path) -> Iterator[Server]:
    """A server whose engine has two slots of two units: without fair claims, the slow run's
    40 units would be served first, 4 at a time."""
    srv, pg_name = start_server(
        server.backend,
        tmp_path / "home",
        EVALPLANE_TICK_SECONDS="0.2",
        EVALPLANE_WORKER_SLOTS="2",
        EVALPLANE_WORKER_BATCH_SIZE="2",
        EVALPLANE_EGRESS_ALLOW="127.0.0.1/8",  # the local judge stand-in
    )
    yield srv
    srv.stop()
    if pg_name:
        drop_pg_database(pg_name)


def project_of(server: Server, api: Api, space_id: str, outputs: list[str]) -> str:
    name = unique("proj")
    send_spans(server, space_id, name, outputs)
    return project_id_named(api.client, space_id, name)


@pytest.mark.slow
def test_a_slow_space_leaves_room_for_a_quick_one(small_batches: Server, llm: LlmServer) -> None:
    server = small_batches
    with server.http() as http:
        api = Api(http)
        slow_space, quick_space = api.space(), api.space()
        judge = integration(api, slow_space["id"], llm)
        slow_evaluator = template_evaluator(api, slow_space["id"], judge["id"], explain=False)
        quick_evaluator = keyword_evaluator(api, quick_space["id"], "mentions_refund")
        slow_project = project_of(server, api, slow_space["id"], [f"answer {i}" for i in range(SLOW_SPANS)])
        quick_project = project_of(server, api, quick_space["id"], ["a refund", "ok", "refund"])
    client = server.sdk()
    slow_task = task_with(client, slow_project, slow_evaluator["id"])
    quick_task = task_with(client, quick_project, quick_evaluator["id"], task_type="CODE_EVALUATION")
    since = datetime.now(UTC) - timedelta(hours=1)
    llm.control(latency_ms=1500)  # every judge call of the slow space takes 1.5 s
    try:
        slow_run = client.tasks.trigger_run(task=slow_task.id, data_start_time=since)
        wait_until(lambda: client.tasks.get_run(run_id=slow_run.id).status == "RUNNING", 20, "the slow run to start")
        quick_run = client.tasks.trigger_run(task=quick_task.id, data_start_time=since)
        quick = client.tasks.wait_for_run(run_id=quick_run.id, poll_interval=0.2, timeout=60)
        slow = client.tasks.get_run(run_id=slow_run.id)
        assert (quick.status, quick.num_successes) == ("COMPLETED", 3)
        # Served first, 4 at a time, the slow run would be nearly done by now.
        assert slow.status == "RUNNING" and slow.num_successes + slow.num_errors <= SLOW_SPANS // 2, slow
        client.tasks.cancel_run(run_id=slow_run.id)
    finally:
        llm.control(latency_ms=0)


async def tasks_with_units(db, count: int, per_task: int, space_id: int | None = None) -> list[int]:  # type: ignore[no-untyped-def]
    space_id = space_id or await a_space(db)
    task_ids = []
    for _ in range(count):
        async with db.session() as session:
            task = Task(
                space_id=space_id, name=unique("task"), type="CODE_EVALUATION", is_continuous=False, experiment_ids=[]
            )
            session.add(task)
            await session.flush()
            task_ids.append(task.id)
            run = TaskRun(task_id=task.id, status="RUNNING", parameters={})
            session.add(run)
            await session.flush()
            await units.enqueue(
                session,
                run_id=run.id,
                task_id=task.id,
                units=[
                    NewUnit(evaluator_key=1, target_kind="SPAN", target_id=n, fingerprint="f") for n in range(per_task)
                ],
            )
    return task_ids


async def another_space(db, beside: int) -> int:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        organization_id = (await session.get(Space, beside)).organization_id
        space = Space(organization_id=organization_id, name=unique("space"))
        session.add(space)
        await session.flush()
        return space.id


async def test_claims_go_round_the_spaces_and_keep_a_slot_for_an_idle_one(database) -> None:
    # The first space has the oldest backlog and two tasks, yet batches alternate between spaces.
    busy = await a_space(database)
    first, second = await tasks_with_units(database, 2, per_task=50, space_id=busy)
    (other,) = await tasks_with_units(database, 1, per_task=50, space_id=await another_space(database, busy))
    worker = Worker(database, executor=None, batch_size=5, slots=4)  # type: ignore[arg-type]
    batches = [await worker._claim() for _ in range(3)]
    assert [{c.task_id for c in batch} for batch in batches] == [{first}, {other}, {second}]
    # The last free slot is not for them (the test never finishes a batch) ...
    assert await worker._claim() == []
    # ... but for a space arriving now.
    (newcomer,) = await tasks_with_units(database, 1, per_task=50, space_id=await another_space(database, busy))
    assert {c.task_id for c in await worker._claim()} == {newcomer}


async def test_one_task_alone_never_takes_the_last_slot(database) -> None:
    (only,) = await tasks_with_units(database, 1, per_task=50)
    worker = Worker(database, executor=None, batch_size=5, slots=3)  # type: ignore[arg-type]
    assert [len(await worker._claim()) for _ in range(3)] == [5, 5, 0]
    async with database.session() as session:
        assert await units.pending_tasks(session) == [only]


async def test_custom_code_processes_are_budgeted_per_task(monkeypatch) -> None:
    # Two tasks, one with six custom evaluators on a span: the process count stays within
    # each task's share, and the second task's code starts while the first's still queues.
    running: dict[int, int] = {1: 0, 2: 0}
    most: dict[int, int] = {1: 0, 2: 0}
    started: list[int] = []

    async def fake_run_custom(source, items, limits):  # type: ignore[no-untyped-def]
        task = int(source.code)
        running[task] += 1
        most[task] = max(most[task], running[task])
        started.append(task)
        await asyncio.sleep(0.05)
        running[task] -= 1
        return [Outcome(label="ok", score=1.0) for _ in items]

    monkeypatch.setattr(executor_module, "run_custom", fake_run_custom)
    executor = Executor(None, Gates(), RetryPolicy(), Limits(), children_per_task=2)  # type: ignore[arg-type]

    def work(task_id: int, evaluator_id: int) -> Work:
        plan = EvaluatorPlan(
            evaluator_id, 1, f"e{evaluator_id}", "CODE", {"code_type": "CUSTOM", "code": str(task_id)}, {}, None
        )
        unit = Claimed(
            id=task_id * 100 + evaluator_id,
            run_id=task_id,
            task_id=task_id,
            evaluator_key=evaluator_id,
            target_kind="SPAN",
            target_id=1,
            attempts=1,
            payload=None,
        )
        return Work(unit=unit, evaluator=plan, document={"attributes": {}})

    busy = asyncio.create_task(executor.execute([work(1, e) for e in range(6)]))
    await asyncio.sleep(0.01)
    quick = await executor.execute([work(2, 1)])
    first = await busy
    assert [r.state for r in first.done] == ["SUCCEEDED"] * 6 and [r.state for r in quick.done] == ["SUCCEEDED"]
    assert most == {1: 2, 2: 1}
    assert started.index(2) < 3  # right after the first task's first two, not after all six
