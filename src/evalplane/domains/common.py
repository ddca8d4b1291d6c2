"""What every domain needs: resolving a visible space, project or dataset by id, checking
names, and the filters and scopes lists share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from evalplane.core.cursors import CursorCodec
from evalplane.core.errors import Conflict, InvalidInput, NotFound
from evalplane.db.dialect import contains_text_ci
from evalplane.db.models import Dataset, Project, Space
from evalplane.db.paging import Page, PageRequest, paginate
from evalplane.domains.access.principal import Principal

M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class SpaceListFilters:
    """The filters every list of space-owned rows takes (case-insensitive substrings for names)."""

    space_id: int | None = None
    space_name: str | None = None
    name: str | None = None


async def get_visible(session: AsyncSession, model: type[M], row_id: int, principal: Principal, what: str) -> M:
    """The row if it exists in a space the caller can see; NotFound otherwise."""
    row = await session.get(model, row_id)
    if row is None:
        raise NotFound(f"{what} was not found.")
    if isinstance(row, Project):
        principal.require_project_read(row.id, row.space_id, what)
        return row
    space_id = row.id if isinstance(row, Space) else row.space_id  # type: ignore[attr-defined]
    principal.require_read(space_id, what)
    return row


async def visible_space(session: AsyncSession, space_id: int, principal: Principal) -> Space:
    return await get_visible(session, Space, space_id, principal, "Space")


async def navigable_space(session: AsyncSession, space_id: int, principal: Principal) -> Space:
    """The space if the caller can see it whole or holds a binding on one of its projects."""
    space = await session.get(Space, space_id)
    if space is None:
        raise NotFound("Space was not found.")
    principal.require_navigate(space_id, "Space")
    return space


async def visible_project(session: AsyncSession, project_id: int, principal: Principal) -> Project:
    return await get_visible(session, Project, project_id, principal, "Project")


async def visible_dataset(session: AsyncSession, dataset_id: int, principal: Principal) -> Dataset:
    return await get_visible(session, Dataset, dataset_id, principal, "Dataset")


def contains_ci(column: InstrumentedAttribute[Any] | ColumnElement[Any], text: str) -> ColumnElement[bool]:
    """Case-insensitive substring match with LIKE wildcards in ``text`` taken literally."""
    if "\x00" in text:
        # No stored name holds a NUL, and PostgreSQL rejects one in a query parameter.
        return false()
    return contains_text_ci(column, text)


def space_scope(column: InstrumentedAttribute[int], principal: Principal) -> ColumnElement[bool] | None:
    """A WHERE clause limiting rows to the caller's spaces, or None for account admins."""
    visible = principal.visible_space_ids()
    if visible is None:
        return None
    return column.in_(sorted(visible)) if visible else column.in_([-1])


def project_scope(
    id_column: InstrumentedAttribute[int], space_column: InstrumentedAttribute[int], principal: Principal
) -> ColumnElement[bool] | None:
    """Rows of projects the caller can read: whole visible spaces plus PROJECT bindings."""
    visible = principal.visible_space_ids()
    if visible is None:
        return None
    projects = principal.visible_project_ids()
    clause = space_column.in_(sorted(visible)) if visible else space_column.in_([-1])
    return or_(clause, id_column.in_(sorted(projects))) if projects else clause


def clean_name(name: Any, field: str = "name", max_length: int = 255) -> str:
    """A name without surrounding blanks; a blank or over-long one is a 400."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"'{field}' must be a non-empty string.", field=field)
    name = name.strip()
    if len(name) > max_length:
        raise InvalidInput(f"'{field}' must be at most {max_length} characters.", field=field)
    return name


async def ensure_name_free(
    session: AsyncSession,
    id_column: InstrumentedAttribute[int],
    name_column: InstrumentedAttribute[str],
    name: str,
    *scope: ColumnElement[bool],
    exclude: int | None = None,
    taken: str,
) -> None:
    """A 409 saying ``taken`` when another row within ``scope`` already has ``name``."""
    stmt = select(id_column).where(name_column == name, *scope)
    if exclude is not None:
        stmt = stmt.where(id_column != exclude)
    if await session.scalar(stmt.limit(1)) is not None:
        raise Conflict(taken)


def in_spaces_named(space_column: InstrumentedAttribute[int], text: str) -> ColumnElement[bool]:
    """Rows whose space's name contains ``text`` (the ``space_name`` list filter)."""
    return space_column.in_(select(Space.id).where(contains_ci(Space.name, text)))


def cursor_filters(**values: Any) -> dict[str, Any]:
    """The filters a list cursor is bound to: the ones given."""
    return {key: value for key, value in values.items() if value is not None}


async def list_in_spaces(
    session: AsyncSession,
    principal: Principal,
    model: Any,
    filters: SpaceListFilters,
    page: PageRequest,
    codec: CursorCodec,
    *,
    scope: str,
) -> Page[Any]:
    """One page of a space-owned resource (rows with ``space_id`` and ``name``) under the
    shared list filters, limited to the caller's spaces."""
    stmt = select(model)
    if filters.space_id is not None:
        await visible_space(session, filters.space_id, principal)
        stmt = stmt.where(model.space_id == filters.space_id)
    if filters.name:
        stmt = stmt.where(contains_ci(model.name, filters.name))
    if filters.space_name:
        stmt = stmt.where(in_spaces_named(model.space_id, filters.space_name))
    visible = space_scope(model.space_id, principal)
    if visible is not None:
        stmt = stmt.where(visible)
    return await paginate(
        session,
        stmt,
        model.id,
        page,
        codec=codec,
        scope=scope,
        filters=cursor_filters(space_id=filters.space_id, space_name=filters.space_name, name=filters.name),
    )
