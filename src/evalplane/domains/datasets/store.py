"""Storage of example revisions and version membership (no access checks here)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, exists, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from evalplane.core.clock import utcnow
from evalplane.core.errors import InvalidInput
from evalplane.db.models import DatasetExample, DatasetVersionExample

MAX_PER_REQUEST = 1000
# Written by the server; an example may not carry its own value for these.
SYSTEM_FIELDS = ("id", "created_at", "updated_at", "annotations")


def _check_fields(example: Any, index: int, allow_id: bool) -> dict[str, Any]:
    where = f"examples[{index}]"
    if not isinstance(example, dict):
        raise InvalidInput(f"{where} must be a JSON object.", field="examples")
    content = {k: v for k, v in example.items() if not (allow_id and k == "id")}
    if not content and not allow_id:
        raise InvalidInput(f"{where} must have at least one field.", field="examples")
    for key in content:
        if key in SYSTEM_FIELDS:
            raise InvalidInput(
                f"{where} contains '{key}', which the server manages; remove it from the example.", field="examples"
            )
        if not key.strip():
            raise InvalidInput(f"{where} has an empty field name.", field="examples")
    return content


def validate_new(examples: list[Any]) -> list[dict[str, Any]]:
    if not examples:
        raise InvalidInput("'examples' must hold at least one example.", field="examples")
    if len(examples) > MAX_PER_REQUEST:
        raise InvalidInput(f"'examples' holds at most {MAX_PER_REQUEST} examples per request.", field="examples")
    return [_check_fields(example, i, allow_id=False) for i, example in enumerate(examples)]


def validate_updates(examples: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """(public id, fields to set) per example; each must carry its ``id``."""
    if not examples:
        raise InvalidInput("'examples' must hold at least one example.", field="examples")
    if len(examples) > MAX_PER_REQUEST:
        raise InvalidInput(f"'examples' holds at most {MAX_PER_REQUEST} examples per request.", field="examples")
    out: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for i, example in enumerate(examples):
        fields = _check_fields(example, i, allow_id=True)
        public_id = example.get("id")
        if not isinstance(public_id, str) or not public_id.strip():
            raise InvalidInput(f"examples[{i}] needs the 'id' of the example to update.", field="examples")
        if public_id in seen:
            raise InvalidInput(f"examples[{i}]: example '{public_id}' appears more than once.", field="examples")
        seen.add(public_id)
        out.append((public_id, fields))
    return out


async def add(session: AsyncSession, dataset_id: int, version_id: int, rows: list[dict[str, Any]]) -> list[int]:
    """Insert new examples into a version; returns their stable example ids in input order."""
    now = utcnow()
    revisions = [
        DatasetExample(dataset_id=dataset_id, example_id=0, data=row, annotations=[], created_at=now, updated_at=now)
        for row in rows
    ]
    session.add_all(revisions)
    await session.flush()
    ids = [r.id for r in revisions]
    # A new example's stable id is the id of its first revision.
    await session.execute(
        update(DatasetExample)
        .where(DatasetExample.dataset_id == dataset_id, DatasetExample.example_id == 0)
        .values(example_id=DatasetExample.id)
        .execution_options(synchronize_session=False)
    )
    for revision in revisions:
        set_committed_value(revision, "example_id", revision.id)
    await session.execute(
        insert(DatasetVersionExample),
        [{"version_id": version_id, "example_id": i, "example_row_id": i} for i in ids],
    )
    return ids


async def append(session: AsyncSession, dataset_id: int, version_id: int, rows: list[dict[str, Any]]) -> None:
    """``add`` for bulk uploads: three statements per batch and no ids read back. Examples get
    ids in the order given, which is the order a version lists them in."""
    now = utcnow()
    await session.execute(
        insert(DatasetExample),
        [
            {
                "dataset_id": dataset_id,
                "example_id": 0,
                "data": row,
                "annotations": [],
                "created_at": now,
                "updated_at": now,
            }
            for row in rows
        ],
    )
    fresh = select(literal(version_id), DatasetExample.id, DatasetExample.id).where(
        DatasetExample.dataset_id == dataset_id, DatasetExample.example_id == 0
    )
    await session.execute(
        insert(DatasetVersionExample).from_select(["version_id", "example_id", "example_row_id"], fresh)
    )
    # A new example's stable id is the id of its first revision.
    await session.execute(
        update(DatasetExample)
        .where(DatasetExample.dataset_id == dataset_id, DatasetExample.example_id == 0)
        .values(example_id=DatasetExample.id, updated_at=DatasetExample.updated_at)
        .execution_options(synchronize_session=False)
    )


async def copy_membership(session: AsyncSession, source_version_id: int, target_version_id: int) -> None:
    rows = select(
        literal(target_version_id), DatasetVersionExample.example_id, DatasetVersionExample.example_row_id
    ).where(DatasetVersionExample.version_id == source_version_id)
    await session.execute(
        insert(DatasetVersionExample).from_select(["version_id", "example_id", "example_row_id"], rows)
    )


async def current(session: AsyncSession, version_id: int, example_ids: Iterable[int]) -> dict[int, DatasetExample]:
    """The revision each given example has in the version (absent ids are left out)."""
    ids = list(example_ids)
    if not ids:
        return {}
    stmt = (
        select(DatasetExample)
        .join(DatasetVersionExample, DatasetVersionExample.example_row_id == DatasetExample.id)
        .where(DatasetVersionExample.version_id == version_id, DatasetVersionExample.example_id.in_(ids))
    )
    return {row.example_id: row for row in (await session.scalars(stmt)).all()}


async def revise(session: AsyncSession, version_id: int, changes: list[tuple[DatasetExample, dict[str, Any]]]) -> None:
    """Write a new revision for each (current revision, fields) and point the version at it."""
    if not changes:
        return
    now = utcnow()
    revisions = [
        DatasetExample(
            dataset_id=old.dataset_id,
            example_id=old.example_id,
            data={**old.data, **fields},
            annotations=list(old.annotations or []),
            created_at=old.created_at,
            updated_at=now,
        )
        for old, fields in changes
    ]
    session.add_all(revisions)
    await session.flush()
    for revision in revisions:
        await session.execute(
            update(DatasetVersionExample)
            .where(
                DatasetVersionExample.version_id == version_id, DatasetVersionExample.example_id == revision.example_id
            )
            .values(example_row_id=revision.id)
        )
    await prune(session, [old.id for old, _ in changes])


async def remove(session: AsyncSession, version_id: int, example_ids: list[int]) -> list[int]:
    """Take examples out of a version; returns the ids that were in it."""
    present = await current(session, version_id, example_ids)
    if present:
        await session.execute(
            delete(DatasetVersionExample).where(
                DatasetVersionExample.version_id == version_id, DatasetVersionExample.example_id.in_(list(present))
            )
        )
        await prune(session, [row.id for row in present.values()])
    return list(present)


async def prune(session: AsyncSession, revision_ids: list[int]) -> None:
    """Drop revisions no version holds any more."""
    if not revision_ids:
        return
    held = exists().where(DatasetVersionExample.example_row_id == DatasetExample.id)
    await session.execute(
        delete(DatasetExample)
        .where(DatasetExample.id.in_(revision_ids), ~held)
        .execution_options(synchronize_session=False)
    )
