"""Keyset pagination shared by every list endpoint: newest first, by id descending."""

from __future__ import annotations

from collections.abc import Callable
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


def cursor_position(page: PageRequest, codec: CursorCodec, scope: str, filters: dict[str, Any]) -> int | None:
    """The last id served before this page (None on the first page); a foreign cursor is a 400."""
    if not page.cursor:
        return None
    position = codec.decode(page.cursor, scope, filters)
    if len(position) != 1 or not isinstance(position[0], int):
        raise InvalidInput("The 'cursor' is not valid.", field="cursor")
    return position[0]


def cut_page(
    rows: list[T],
    page: PageRequest,
    last_id: Callable[[T], int],
    codec: CursorCodec,
    scope: str,
    filters: dict[str, Any],
) -> Page[T]:
    """Turn up to ``limit + 1`` rows into a page, with a cursor after its last row if more follow."""
    has_more = len(rows) > page.limit
    rows = rows[: page.limit]
    next_cursor = codec.encode(scope, filters, [last_id(rows[-1])]) if has_more else None
    return Page(items=rows, has_more=has_more, next_cursor=next_cursor)


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
    position = cursor_position(page, codec, scope, filters)
    if position is not None:
        stmt = stmt.where(id_column > position if ascending else id_column < position)
    order = id_column.asc() if ascending else id_column.desc()
    stmt = stmt.order_by(order).limit(page.limit + 1)
    result = await session.execute(stmt)
    rows = list(result.scalars().all() if scalars else result.all())
    key = id_column.key

    def last_id(row: Any) -> int:
        return getattr(row, key) if scalars else row._mapping[key]

    return cut_page(rows, page, last_id, codec, scope, filters)
