"""The work-unit queue: dedupe, leases, compare-and-set completion, reaping, cancellation."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from evalplane.core.clock import utcnow
from evalplane.db.models import Task, TaskRun, WorkUnit
from evalplane.jobs import units
from evalplane.jobs.units import NewUnit
from tests.arrange import a_space


async def arrange_run(db) -> tuple[int, int]:
    space_id = await a_space(db)
    async with db.session() as session:
        task = Task(space_id=space_id, name="t", type="CODE_EVALUATION", is_continuous=False, experiment_ids=[])
        session.add(task)
        await session.flush()
        run = TaskRun(task_id=task.id, status="RUNNING", parameters={})
        session.add(run)
        await session.flush()
        return task.id, run.id


def targets(n: int, evaluator: int = 7, fp: str = "v1") -> list[NewUnit]:
    return [NewUnit(evaluator_key=evaluator, target_kind="SPAN", target_id=i, fingerprint=fp) for i in range(1, n + 1)]


async def test_enqueue_is_idempotent_per_target_and_config(database) -> None:
    task_id, run_id = await arrange_run(database)
    async with database.session() as s:
        assert await units.enqueue(s, run_id=run_id, task_id=task_id, units=targets(5)) == 5
    async with database.session() as s:
        assert await units.enqueue(s, run_id=run_id, task_id=task_id, units=targets(7)) == 2
        assert await units.enqueue(s, run_id=run_id, task_id=task_id, units=targets(2, fp="v2")) == 2
        assert await units.open_count(s, run_id) == 9


async def test_override_resets_finished_units(database) -> None:
    task_id, run_id = await arrange_run(database)
    async with database.session() as s:
        await units.enqueue(s, run_id=run_id, task_id=task_id, units=targets(3))
        claimed = await units.claim(s, worker="w", limit=10, lease=timedelta(seconds=30))
        for c in claimed:
            assert await units.finish(s, worker="w", unit_id=c.id, state=units.SUCCEEDED)
    async with database.session() as s:
        assert await units.enqueue(s, run_id=run_id, task_id=task_id, units=targets(3), override=True) == 3
        assert await units.state_counts(s, run_id) == {units.PENDING: 3}


async def test_concurrent_workers_never_claim_the_same_unit(database) -> None:
    task_id, run_id = await arrange_run(database)
    async with database.session() as s:
        await units.enqueue(s, run_id=run_id, task_id=task_id, units=targets(200))

    async def worker(name: str) -> list[int]:
        got: list[int] = []
        while True:
            async with database.session() as s:
                batch = await units.claim(s, worker=name, limit=7, lease=timedelta(seconds=30))
            if not batch:
                return got
            got.extend(c.id for c in batch)

    results = await asyncio.gather(*(worker(f"w{i}") for i in range(4)))
    claimed = [unit for batch in results for unit in batch]
    assert len(claimed) == 200 and len(set(claimed)) == 200


async def test_expired_lease_is_reaped_and_the_old_worker_cannot_finish(database) -> None:
    task_id, run_id = await arrange_run(database)
    async with database.session() as s:
        await units.enqueue(s, run_id=run_id, task_id=task_id, units=targets(1))
        (first,) = await units.claim(s, worker="slow", limit=1, lease=timedelta(seconds=30))
    async with database.session() as s:
        assert await units.reap(s, now=utcnow() + timedelta(minutes=1)) == 1
        (again,) = await units.claim(s, worker="fast", limit=1, lease=timedelta(seconds=30))
        assert again.id == first.id and again.attempts == 2
    async with database.session() as s:
        assert not await units.finish(s, worker="slow", unit_id=first.id, state=units.SUCCEEDED)
        assert await units.heartbeat(s, worker="slow", unit_ids=[first.id], lease=timedelta(seconds=30)) == 0
        assert await units.finish(s, worker="fast", unit_id=first.id, state=units.SUCCEEDED)
        assert await units.state_counts(s, run_id) == {units.SUCCEEDED: 1}


async def test_release_refunds_the_attempt_and_delays(database) -> None:
    task_id, run_id = await arrange_run(database)
    async with database.session() as s:
        await units.enqueue(s, run_id=run_id, task_id=task_id, units=targets(1))
        (unit,) = await units.claim(s, worker="w", limit=1, lease=timedelta(seconds=30))
        assert await units.release(s, worker="w", unit_ids=[unit.id], delay=timedelta(seconds=60)) == 1
        assert await units.claim(s, worker="w", limit=1, lease=timedelta(seconds=30)) == []
        row = await s.scalar(select(WorkUnit).where(WorkUnit.id == unit.id))
        assert row.attempts == 0 and row.state == units.PENDING


async def test_cancel_stops_handing_out_units(database) -> None:
    task_id, run_id = await arrange_run(database)
    async with database.session() as s:
        await units.enqueue(s, run_id=run_id, task_id=task_id, units=targets(4))
        (leased,) = await units.claim(s, worker="w", limit=1, lease=timedelta(seconds=30))
    async with database.session() as s:
        assert await units.cancel_run(s, run_id) == 4
        assert await units.claim(s, worker="w", limit=10, lease=timedelta(seconds=30)) == []
        assert not await units.finish(s, worker="w", unit_id=leased.id, state=units.SUCCEEDED)
        assert await units.state_counts(s, run_id) == {units.CANCELLED: 4}


async def test_a_unit_whose_target_grew_while_leased_goes_round_again(database) -> None:
    """A session receiving spans while its unit is being evaluated: the result is recorded, and
    the unit is queued again (not before the new idle time), once — never two leases at once."""
    task_id, run_id = await arrange_run(database)
    group = [NewUnit(evaluator_key=7, target_kind="SESSION", target_id=i, fingerprint="v1") for i in (1, 2)]
    async with database.session() as s:
        await units.enqueue(s, run_id=run_id, task_id=task_id, units=group)
        claimed = await units.claim(s, worker="w", limit=10, lease=timedelta(seconds=30))
    due = utcnow() + timedelta(seconds=60)
    async with database.session() as s:
        postponed = await units.postpone_leased(
            s, task_id=task_id, evaluator_key=7, target_kind="SESSION", target_ids=[1], until=due
        )
        # the override reset leaves a leased unit alone
        assert await units.enqueue(s, run_id=run_id, task_id=task_id, units=group, override=True, not_before=due) == 0
    assert postponed == 1
    async with database.session() as s:
        held = await units.finish_many(s, worker="w", unit_ids=[c.id for c in claimed], state=units.SUCCEEDED)
        assert await units.requeue_grown(s, [c for c in claimed if c.id in held]) == 1
    async with database.session() as s:
        rows = (await s.execute(select(WorkUnit.target_id, WorkUnit.state).order_by(WorkUnit.target_id))).all()
        assert [tuple(r) for r in rows] == [(1, units.PENDING), (2, units.SUCCEEDED)]
        assert await units.claim(s, worker="w", limit=10, lease=timedelta(seconds=30)) == []  # waits until idle
