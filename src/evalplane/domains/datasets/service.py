"""Datasets and their versions: create (with first examples), read, rename, delete, list."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.clock import utcnow
from evalplane.core.cursors import CursorCodec
from evalplane.core.errors import Conflict, NotFound
from evalplane.db.models import Dataset, DatasetVersion
from evalplane.db.paging import Page, PageRequest
from evalplane.domains import common
from evalplane.domains.access.principal import Principal
from evalplane.domains.datasets import store

FIRST_VERSION_NAME = "v1"


DatasetFilters = common.SpaceListFilters


async def _ensure_unique(session: AsyncSession, space_id: int, name: str, exclude: int | None = None) -> None:
    taken = f"A dataset named '{name}' already exists in this space."
    await common.ensure_name_free(
        session, Dataset.id, Dataset.name, name, Dataset.space_id == space_id, exclude=exclude, taken=taken
    )


def touch(dataset: Dataset, *versions: DatasetVersion) -> None:
    """Content changed: clients (the SDK's example cache) key on ``updated_at``."""
    now = utcnow()
    dataset.updated_at = now
    for version in versions:
        version.updated_at = now


async def create(
    session: AsyncSession, principal: Principal, *, space_id: int, name: str, examples: list[dict[str, Any]]
) -> Dataset:
    await common.visible_space(session, space_id, principal)
    principal.require_write(space_id, "Space")
    name = common.clean_name(name)
    rows = store.validate_new(examples)
    await _ensure_unique(session, space_id, name)
    dataset, version = await _insert_empty(session, principal, space_id, name)
    await store.add(session, dataset.id, version.id, rows)
    return dataset


async def check_new(session: AsyncSession, principal: Principal, *, space_id: int, name: str) -> str:
    """The cleaned name, once the caller may create a dataset of that name in the space."""
    await common.visible_space(session, space_id, principal)
    principal.require_write(space_id, "Space")
    name = common.clean_name(name)
    await _ensure_unique(session, space_id, name)
    return name


async def start(
    session: AsyncSession, principal: Principal, *, space_id: int, name: str
) -> tuple[Dataset, DatasetVersion]:
    """A new dataset and its first version, still empty: the caller adds examples (in batches,
    for bulk uploads) in the same transaction, so nobody sees it before it is whole."""
    name = await check_new(session, principal, space_id=space_id, name=name)
    return await _insert_empty(session, principal, space_id, name)


async def _insert_empty(
    session: AsyncSession, principal: Principal, space_id: int, name: str
) -> tuple[Dataset, DatasetVersion]:
    dataset = Dataset(space_id=space_id, name=name, created_by_user_id=principal.user_id)
    session.add(dataset)
    await session.flush()
    version = DatasetVersion(dataset_id=dataset.id, name=FIRST_VERSION_NAME)
    session.add(version)
    await session.flush()
    return dataset, version


async def get(session: AsyncSession, principal: Principal, dataset_id: int) -> Dataset:
    return await common.visible_dataset(session, dataset_id, principal)


async def writable(session: AsyncSession, principal: Principal, dataset_id: int) -> Dataset:
    dataset = await common.visible_dataset(session, dataset_id, principal)
    principal.require_write(dataset.space_id, "Dataset")
    return dataset


async def versions(session: AsyncSession, dataset_id: int) -> list[DatasetVersion]:
    """Newest first."""
    stmt = select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id).order_by(DatasetVersion.id.desc())
    return list((await session.scalars(stmt)).all())


async def version(session: AsyncSession, dataset: Dataset, version_id: int | None) -> DatasetVersion:
    """The given version of ``dataset``, or its newest when ``version_id`` is None."""
    if version_id is None:
        stmt = select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id).order_by(DatasetVersion.id.desc())
        found = (await session.scalars(stmt.limit(1))).first()
        if found is None:  # every dataset is created with a version; be explicit anyway
            raise NotFound("The dataset has no versions.")
        return found
    found = await session.get(DatasetVersion, version_id)
    if found is None or found.dataset_id != dataset.id:
        raise NotFound("Dataset version was not found in this dataset.")
    return found


async def new_version(session: AsyncSession, dataset: Dataset, name: str) -> DatasetVersion:
    name = common.clean_name(name, "new_version")
    taken = await session.scalar(
        select(func.count())
        .select_from(DatasetVersion)
        .where(DatasetVersion.dataset_id == dataset.id, DatasetVersion.name == name)
    )
    if taken:
        raise Conflict(f"A version named '{name}' already exists in this dataset.")
    created = DatasetVersion(dataset_id=dataset.id, name=name)
    session.add(created)
    await session.flush()
    return created


async def rename(session: AsyncSession, principal: Principal, dataset_id: int, name: str) -> Dataset:
    dataset = await writable(session, principal, dataset_id)
    name = common.clean_name(name)
    await _ensure_unique(session, dataset.space_id, name, exclude=dataset.id)
    dataset.name = name
    dataset.updated_at = utcnow()
    await session.flush()
    return dataset


async def remove(session: AsyncSession, principal: Principal, dataset_id: int) -> None:
    dataset = await writable(session, principal, dataset_id)
    await session.execute(delete(Dataset).where(Dataset.id == dataset.id))


async def list_datasets(
    session: AsyncSession, principal: Principal, filters: DatasetFilters, page: PageRequest, codec: CursorCodec
) -> Page[Dataset]:
    return await common.list_in_spaces(session, principal, Dataset, filters, page, codec, scope="datasets")
