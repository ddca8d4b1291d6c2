"""Example operations on a dataset version: insert, update, delete, list/search, annotate.

Writes follow the Arize contract: they apply in place to the chosen version (the newest
when none is named), except an update that names ``new_version``, which copies the chosen
version into a new one and changes only the copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy import update as sa_update
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.cursors import CursorCodec
from evalplane.core.errors import InvalidInput, UnknownId
from evalplane.core.ids import Kind, decode_id
from evalplane.db.models import (
    Dataset,
    DatasetExample,
    DatasetVersion,
    DatasetVersionExample,
)
from evalplane.db.paging import Page, PageRequest, paginate
from evalplane.domains.access.principal import Principal
from evalplane.domains.datasets import annotations as notes
from evalplane.domains.datasets import service, store
from evalplane.filters.records import record_search


@dataclass(frozen=True, slots=True)
class Written:
    dataset: Dataset
    version: DatasetVersion
    example_ids: list[int]


def _example_number(public_id: str) -> int | None:
    try:
        return decode_id(Kind.DATASET_EXAMPLE, public_id, field="id")
    except UnknownId:
        return None


async def insert(
    session: AsyncSession, principal: Principal, dataset_id: int, version_id: int | None, examples: list[Any]
) -> Written:
    dataset = await service.writable(session, principal, dataset_id)
    target = await service.version(session, dataset, version_id)
    rows = store.validate_new(examples)
    ids = await store.add(session, dataset.id, target.id, rows)
    service.touch(dataset, target)
    await session.flush()
    return Written(dataset, target, ids)


async def update(
    session: AsyncSession,
    principal: Principal,
    dataset_id: int,
    version_id: int | None,
    examples: list[Any],
    new_version: str | None,
) -> Written:
    dataset = await service.writable(session, principal, dataset_id)
    base = await service.version(session, dataset, version_id)
    wanted = store.validate_updates(examples)
    target = base
    if new_version:
        target = await service.new_version(session, dataset, new_version)
        await store.copy_membership(session, base.id, target.id)
    numbers = {public_id: _example_number(public_id) for public_id, _ in wanted}
    present = await store.current(session, target.id, [n for n in numbers.values() if n is not None])
    # Ids not in the version are ignored, as the contract says.
    changes = [(present[numbers[pid]], fields) for pid, fields in wanted if numbers[pid] in present]  # type: ignore[index]
    await store.revise(session, target.id, changes)
    service.touch(dataset, target)
    await session.flush()
    return Written(dataset, target, [old.example_id for old, _ in changes])


async def delete(
    session: AsyncSession, principal: Principal, dataset_id: int, version_id: int, public_ids: list[str]
) -> tuple[list[str], list[str]]:
    """(deleted, not deleted) public ids, each in request order."""
    dataset = await service.writable(session, principal, dataset_id)
    target = await service.version(session, dataset, version_id)
    if not public_ids or len(public_ids) > store.MAX_PER_REQUEST:
        raise InvalidInput(f"'example_ids' must hold 1 to {store.MAX_PER_REQUEST} ids.", field="example_ids")
    if any(not isinstance(p, str) or not p.strip() for p in public_ids):
        raise InvalidInput("'example_ids' must not contain empty ids.", field="example_ids")
    if len(set(public_ids)) != len(public_ids):
        raise InvalidInput("'example_ids' must not contain duplicates.", field="example_ids")
    numbers = {p: _example_number(p) for p in public_ids}
    removed = set(await store.remove(session, target.id, [n for n in numbers.values() if n is not None]))
    if removed:
        service.touch(dataset, target)
        await session.flush()
    deleted = [p for p in public_ids if numbers[p] in removed]
    return deleted, [p for p in public_ids if numbers[p] not in removed]


async def list_examples(
    session: AsyncSession,
    principal: Principal,
    dataset_id: int,
    version_id: int | None,
    page: PageRequest,
    codec: CursorCodec,
    *,
    filter_text: str | None = None,
    to_record: Callable[[DatasetExample], dict[str, Any]] | None = None,
) -> Page[DatasetExample]:
    """Examples of a version, oldest first. With ``filter_text``, only those whose wire
    record (``to_record``) matches it."""
    dataset = await service.get(session, principal, dataset_id)
    predicate = record_search(filter_text) if filter_text is not None else None
    target = await service.version(session, dataset, version_id)
    stmt = (
        select(DatasetExample)
        .join(DatasetVersionExample, DatasetVersionExample.example_row_id == DatasetExample.id)
        .where(DatasetVersionExample.version_id == target.id)
    )
    filters = {"dataset": dataset.id, "version": version_id, "filter": filter_text}
    if predicate is None or to_record is None:
        return await paginate(
            session,
            stmt,
            DatasetExample.example_id,
            page,
            codec=codec,
            scope="dataset_examples",
            filters=filters,
            ascending=True,
        )
    return await scan_filtered(
        session,
        stmt,
        DatasetExample.example_id,
        page,
        codec,
        "dataset_examples",
        filters,
        lambda row: predicate(to_record(row)),
    )


async def scan_filtered(
    session: AsyncSession,
    stmt: Any,
    key: Any,
    page: PageRequest,
    codec: CursorCodec,
    scope: str,
    filters: dict[str, Any],
    keep: Callable[[Any], bool],
    chunk: int = 500,
) -> Page[Any]:
    """Keyset pagination (ascending) over rows that pass an in-memory test, read in chunks."""
    after: int | None = None
    if page.cursor:
        position = codec.decode(page.cursor, scope, filters)
        if len(position) != 1 or not isinstance(position[0], int):
            raise InvalidInput("The 'cursor' is not valid.", field="cursor")
        after = position[0]
    matched: list[Any] = []
    while len(matched) <= page.limit:
        query = stmt if after is None else stmt.where(key > after)
        rows = list((await session.scalars(query.order_by(key.asc()).limit(chunk))).all())
        for row in rows:
            if keep(row):
                matched.append(row)
                if len(matched) > page.limit:
                    break
        if len(rows) < chunk:
            break
        after = getattr(rows[-1], key.key)
    has_more = len(matched) > page.limit
    items = matched[: page.limit]
    next_cursor = codec.encode(scope, filters, [getattr(items[-1], key.key)]) if has_more else None
    return Page(items=items, has_more=has_more, next_cursor=next_cursor)


async def annotate(
    session: AsyncSession, principal: Principal, dataset_id: int, items: list[tuple[str, list[notes.AnnotationValue]]]
) -> None:
    """Upsert annotations by name on each example (every revision of it); unknown ids are ignored."""
    dataset = await service.writable(session, principal, dataset_id)
    wanted: dict[int, list[notes.AnnotationValue]] = {}
    for i, (record_id, values) in enumerate(items):
        notes.clean_values(values, f"annotations[{i}]")
        number = _example_number(record_id)
        if number is not None:
            wanted.setdefault(number, []).extend(values)
    if not wanted:
        return
    who = await notes.annotator(session, principal.user_id)
    stmt = select(DatasetExample).where(
        DatasetExample.dataset_id == dataset.id, DatasetExample.example_id.in_(list(wanted))
    )
    revisions = list((await session.scalars(stmt)).all())
    for revision in revisions:
        merged = notes.upsert(revision.annotations, wanted[revision.example_id], who)
        # Annotating is not an edit of the example: keep its updated_at.
        await session.execute(
            sa_update(DatasetExample)
            .where(DatasetExample.id == revision.id)
            .values(annotations=merged, updated_at=DatasetExample.updated_at)
            .execution_options(synchronize_session=False)
        )
    if revisions:
        service.touch(dataset)
    await session.flush()
