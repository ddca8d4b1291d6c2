"""The work-unit queue on either database.

Claiming is one statement: on PostgreSQL it skips rows other workers have locked
(``FOR UPDATE SKIP LOCKED``), so any number of workers share the queue without blocking;
on SQLite the database's single writer serializes claims. Every later change to a unit is a
compare-and-set on its state and lease owner, so a worker whose lease expired (and whose
unit was handed to another worker) cannot also record it: results are written by exactly
one worker, and run counters move exactly once per unit.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import CursorResult, and_, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.clock import utcnow
from evalplane.db.dialect import SqlDialect, dialect_of
from evalplane.db.models import WorkUnit

PENDING, LEASED = "PENDING", "LEASED"
SUCCEEDED, ERRORED, SKIPPED = "SUCCEEDED", "ERRORED", "SKIPPED"
SAMPLED_OUT, FILTERED_OUT, CANCELLED = "SAMPLED_OUT", "FILTERED_OUT", "CANCELLED"
FINAL = frozenset({SUCCEEDED, ERRORED, SKIPPED, SAMPLED_OUT, FILTERED_OUT, CANCELLED})


def fingerprint(config: Any) -> str:
    """A stable digest of an evaluator configuration; a changed config evaluates again."""
    return hashlib.blake2s(orjson.dumps(config, option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()


@dataclass(frozen=True, slots=True)
class NewUnit:
    evaluator_key: int
    target_kind: str
    target_id: int
    fingerprint: str
    state: str = PENDING
    detail: str | None = None
    payload: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    run_id: int
    task_id: int
    evaluator_key: int
    target_kind: str
    target_id: int
    attempts: int
    payload: dict[str, Any] | None
    claimed_at: datetime | None = None  # the unit's not_before is set to it when claimed


async def enqueue(
    session: AsyncSession,
    *,
    run_id: int,
    task_id: int,
    units: Iterable[NewUnit],
    override: bool = False,
    not_before: datetime | None = None,
) -> int:
    """Insert units for a run in the caller's transaction; return how many are new to it.

    A target already covered by a unit of this task with the same evaluator config is left
    alone — unless ``override``, when that unit is reset and moved to this run. ``not_before``
    holds the units back until then (a trace or session waiting to go idle).
    """
    now = utcnow()
    start_at = not_before or now
    rows = [
        {
            "run_id": run_id,
            "task_id": task_id,
            "evaluator_key": u.evaluator_key,
            "target_kind": u.target_kind,
            "target_id": u.target_id,
            "fingerprint": u.fingerprint,
            "state": u.state,
            "attempts": 0,
            "not_before": start_at,
            "detail": u.detail,
            "payload": u.payload,
            "created_at": now,
            "updated_at": now,
        }
        for u in units
    ]
    if not rows:
        return 0
    statement = _enqueue_statement(dialect_of(session), override)
    inserted = 0
    for start in range(0, len(rows), 500):
        # The rows go as parameters of one statement built once (SQLAlchemy batches them
        # into multi-row INSERTs itself): compiling a fresh 500-row VALUES clause per chunk
        # cost a 10,000-unit plan seconds of CPU.
        result = await session.execute(statement, rows[start : start + 500])
        inserted += len(result.all())
    return inserted


_ENQUEUE: dict[tuple[str, bool], Any] = {}
_UNIT_KEYS = ["task_id", "evaluator_key", "target_kind", "target_id", "fingerprint"]


def _enqueue_statement(dialect: SqlDialect, override: bool) -> Any:
    """The INSERT that ``enqueue`` runs, per dialect and mode, built once so it compiles once."""
    stmt = _ENQUEUE.get((dialect.name, override))
    if stmt is not None:
        return stmt
    insert = dialect.insert(WorkUnit.__table__)
    if override:
        stmt = insert.on_conflict_do_update(
            index_elements=_UNIT_KEYS,
            set_={
                "run_id": insert.excluded.run_id,
                "state": insert.excluded.state,
                "attempts": 0,
                "not_before": insert.excluded.not_before,
                "lease_owner": None,
                "lease_expires_at": None,
                "detail": insert.excluded.detail,
                "payload": insert.excluded.payload,
                "updated_at": insert.excluded.updated_at,
            },
            # A unit another run is working on right now is not taken over.
            where=WorkUnit.__table__.c.state != LEASED,
        )
    else:
        stmt = insert.on_conflict_do_nothing(index_elements=_UNIT_KEYS)
    stmt = _ENQUEUE[(dialect.name, override)] = stmt.returning(WorkUnit.__table__.c.id)
    return stmt


# Distinct tasks with pending units, one index seek per task (a "loose index scan"): cheap
# however many units wait, where GROUP BY or DISTINCT would read every pending row.
_PENDING_TASKS = text(
    """
    WITH RECURSIVE pending_tasks(task_id) AS (
        SELECT MIN(task_id) FROM work_units WHERE state = 'PENDING'
        UNION ALL
        SELECT (SELECT MIN(w.task_id) FROM work_units w WHERE w.state = 'PENDING' AND w.task_id > p.task_id)
        FROM pending_tasks p WHERE p.task_id IS NOT NULL
    )
    SELECT task_id FROM pending_tasks WHERE task_id IS NOT NULL
    """
)


async def pending_tasks(session: AsyncSession) -> list[int]:
    """Ids of the tasks that have units waiting (some may still be backing off), ascending."""
    return [int(row[0]) for row in (await session.execute(_PENDING_TASKS)).all()]


async def claim(
    session: AsyncSession,
    *,
    worker: str,
    limit: int,
    lease: timedelta,
    run_ids: Sequence[int] | None = None,
    task_id: int | None = None,
) -> list[Claimed]:
    """Lease up to ``limit`` claimable units to ``worker`` (oldest first), of one task if given."""
    now = utcnow()
    candidates = (
        select(WorkUnit.id)
        .where(WorkUnit.state == PENDING, WorkUnit.not_before <= now)
        .order_by(WorkUnit.not_before, WorkUnit.id)
        .limit(limit)
    )
    if run_ids is not None:
        candidates = candidates.where(WorkUnit.run_id.in_(list(run_ids)))
    if task_id is not None:
        candidates = candidates.where(WorkUnit.task_id == task_id)
    candidates = dialect_of(session).skip_locked(candidates)
    # A materialized CTE: PostgreSQL may otherwise re-run a LIMITed subquery inside IN (...)
    # and lease more rows than asked for.
    chosen = candidates.cte("claimable").prefix_with("MATERIALIZED", dialect="postgresql")
    stmt = (
        update(WorkUnit)
        .where(WorkUnit.id == chosen.c.id, WorkUnit.state == PENDING)
        .values(
            state=LEASED,
            lease_owner=worker,
            lease_expires_at=now + lease,
            attempts=WorkUnit.attempts + 1,
            # Marks the claim: a unit whose not_before moves past it while leased (its trace or
            # session received spans meanwhile) is queued again once recorded (``requeue_grown``).
            not_before=now,
            updated_at=now,
        )
        .returning(
            WorkUnit.id,
            WorkUnit.run_id,
            WorkUnit.task_id,
            WorkUnit.evaluator_key,
            WorkUnit.target_kind,
            WorkUnit.target_id,
            WorkUnit.attempts,
            WorkUnit.payload,
            WorkUnit.not_before,
        )
        .execution_options(synchronize_session=False)
    )
    rows = (await session.execute(stmt)).all()
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


async def marks(
    session: AsyncSession, *, task_id: int, evaluator_key: int, target_kind: str, target_ids: Sequence[int]
) -> dict[int, tuple[str, datetime]]:
    """Existing units of these targets (any fingerprint): their state and ``not_before`` — the
    time due while PENDING, the time of the last claim once claimed."""
    if not target_ids:
        return {}
    rows = await session.execute(
        select(WorkUnit.target_id, WorkUnit.state, WorkUnit.not_before).where(
            WorkUnit.task_id == task_id,
            WorkUnit.evaluator_key == evaluator_key,
            WorkUnit.target_kind == target_kind,
            WorkUnit.target_id.in_(list(target_ids)),
        )
    )
    return {target_id: (state, not_before) for target_id, state, not_before in rows.all()}


async def postpone_leased(
    session: AsyncSession,
    *,
    task_id: int,
    evaluator_key: int,
    target_kind: str,
    target_ids: Sequence[int],
    until: datetime,
) -> int:
    """Units being evaluated right now whose target has changed: they go round again after
    they are recorded (see ``requeue_grown``), not before ``until``."""
    if not target_ids:
        return 0
    result = await session.execute(
        update(WorkUnit)
        .where(
            WorkUnit.task_id == task_id,
            WorkUnit.evaluator_key == evaluator_key,
            WorkUnit.target_kind == target_kind,
            WorkUnit.target_id.in_(list(target_ids)),
            WorkUnit.state == LEASED,
        )
        .values(not_before=until)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount or 0


async def requeue_grown(session: AsyncSession, claimed: Sequence[Claimed]) -> int:
    """Recorded units postponed while they were leased go back to PENDING (same run, fresh attempts)."""
    # One statement per claim, not per unit: a claim's units share their claimed_at.
    by_claim: dict[datetime, list[int]] = defaultdict(list)
    for unit in claimed:
        if unit.claimed_at is not None:
            by_claim[unit.claimed_at].append(unit.id)
    requeued = 0
    for claimed_at, unit_ids in by_claim.items():
        result = await session.execute(
            update(WorkUnit)
            .where(WorkUnit.id.in_(unit_ids), WorkUnit.state.in_(list(FINAL)), WorkUnit.not_before > claimed_at)
            .values(state=PENDING, attempts=0, detail=None, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        requeued += cast(CursorResult[Any], result).rowcount or 0
    return requeued


async def heartbeat(session: AsyncSession, *, worker: str, unit_ids: Sequence[int], lease: timedelta) -> int:
    """Extend the leases this worker still holds; returns how many it still holds."""
    if not unit_ids:
        return 0
    result = await session.execute(
        update(WorkUnit)
        .where(WorkUnit.id.in_(list(unit_ids)), WorkUnit.lease_owner == worker, WorkUnit.state == LEASED)
        .values(lease_expires_at=utcnow() + lease)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount or 0


async def finish(session: AsyncSession, *, worker: str, unit_id: int, state: str, detail: str | None = None) -> bool:
    """Record a unit's final state if this worker still holds its lease (compare-and-set)."""
    assert state in FINAL
    result = await session.execute(
        update(WorkUnit)
        .where(WorkUnit.id == unit_id, WorkUnit.lease_owner == worker, WorkUnit.state == LEASED)
        .values(state=state, detail=detail, lease_owner=None, lease_expires_at=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return (cast(CursorResult[Any], result).rowcount or 0) == 1


async def finish_many(
    session: AsyncSession, *, worker: str, unit_ids: Sequence[int], state: str, detail: str | None = None
) -> set[int]:
    """``finish`` for many units with the same outcome in one statement; returns the ids this
    worker still held (and so recorded)."""
    assert state in FINAL
    if not unit_ids:
        return set()
    result = await session.execute(
        update(WorkUnit)
        .where(WorkUnit.id.in_(list(unit_ids)), WorkUnit.lease_owner == worker, WorkUnit.state == LEASED)
        .values(state=state, detail=detail, lease_owner=None, lease_expires_at=None, updated_at=utcnow())
        .returning(WorkUnit.id)
        .execution_options(synchronize_session=False)
    )
    return {row[0] for row in result.all()}


async def release(
    session: AsyncSession,
    *,
    worker: str,
    unit_ids: Sequence[int],
    delay: timedelta = timedelta(0),
    refund_attempt: bool = True,
    detail: str | None = None,
) -> int:
    """Hand leased units back to the queue (shutdown, or a provider asking us to wait)."""
    if not unit_ids:
        return 0
    values: dict[str, Any] = {
        "state": PENDING,
        "lease_owner": None,
        "lease_expires_at": None,
        "not_before": utcnow() + delay,
        "updated_at": utcnow(),
    }
    if refund_attempt:
        values["attempts"] = WorkUnit.attempts - 1
    if detail is not None:
        values["detail"] = detail
    result = await session.execute(
        update(WorkUnit)
        .where(WorkUnit.id.in_(list(unit_ids)), WorkUnit.lease_owner == worker, WorkUnit.state == LEASED)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount or 0


async def reap(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Return units whose lease expired (their worker died or stalled) to the queue."""
    now = now or utcnow()
    result = await session.execute(
        update(WorkUnit)
        .where(WorkUnit.state == LEASED, WorkUnit.lease_expires_at < now)
        .values(state=PENDING, lease_owner=None, lease_expires_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount or 0


async def cancel_run(session: AsyncSession, run_id: int) -> int:
    """Stop handing out a run's units; units already leased finish or are dropped by CAS."""
    result = await session.execute(
        update(WorkUnit)
        .where(WorkUnit.run_id == run_id, WorkUnit.state.in_([PENDING, LEASED]))
        .values(state=CANCELLED, lease_owner=None, lease_expires_at=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount or 0


async def open_count(session: AsyncSession, run_id: int) -> int:
    """Units of a run still waiting or in flight."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(WorkUnit)
            .where(and_(WorkUnit.run_id == run_id, WorkUnit.state.in_([PENDING, LEASED])))
        )
        or 0
    )


async def state_counts(session: AsyncSession, run_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(WorkUnit.state, func.count()).where(WorkUnit.run_id == run_id).group_by(WorkUnit.state)
    )
    return {state: int(count) for state, count in rows.all()}
