"""Keyset pagination shared by every list endpoint: newest first, by id descending."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from evalplane.core.cursors import CursorCodec
from evalplane.core.errors import InvalidInput

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool
    next_cursor: str | None


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    id_column: InstrumentedAttribute[int],
    page: PageRequest,
    *,
    codec: CursorCodec,
    scope: str,
    filters: dict[str, Any],
    scalars: bool = True,
    ascending: bool = False,
) -> Page[Any]:
    """Run ``stmt`` for one page. The cursor is bound to ``scope`` and ``filters``, and
    positions by the last id served, so inserts and deletes between pages neither skip
    nor repeat rows that existed throughout. ``ascending`` serves oldest first instead."""
    if page.cursor:
        position = codec.decode(page.cursor, scope, filters)
        if len(position) != 1 or not isinstance(position[0], int):
            raise InvalidInput("The 'cursor' is not valid.", field="cursor")
        stmt = stmt.where(id_column > position[0] if ascending else id_column < position[0])
    order = id_column.asc() if ascending else id_column.desc()
    stmt = stmt.order_by(order).limit(page.limit + 1)
    result = await session.execute(stmt)
    rows = list(result.scalars().all() if scalars else result.all())
    has_more = len(rows) > page.limit
    rows = rows[: page.limit]
    next_cursor = None
    if has_more:
        last = rows[-1]
        last_id = getattr(last, id_column.key) if scalars else last._mapping[id_column.key]
        next_cursor = codec.encode(scope, filters, [last_id])
    return Page(items=rows, has_more=has_more, next_cursor=next_cursor)
