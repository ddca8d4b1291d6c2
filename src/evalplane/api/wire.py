"""Small helpers shared by routers for building wire payloads."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Query
from starlette.responses import Response

from evalplane.core.ids import Kind, maybe_decode_id
from evalplane.db.paging import Page, PageRequest
from evalplane.domains.common import SpaceListFilters


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def pagination(page: Page[Any]) -> dict[str, Any]:
    """``next_cursor`` is present only while ``has_more`` is true."""
    if page.has_more and page.next_cursor:
        return {"next_cursor": page.next_cursor, "has_more": True}
    return {"has_more": False}


def page_request(limit: int, cursor: str | None) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor or None)


def limit_param(maximum: int = 100) -> Any:
    return Query(ge=1, le=maximum, description=f"Items per page, 1 to {maximum}.")


def no_content() -> Response:
    return Response(status_code=204)


async def space_list_filters(
    space_id: Annotated[str | None, Query()] = None,
    space_name: Annotated[str | None, Query(max_length=255)] = None,
    name: Annotated[str | None, Query(max_length=255)] = None,
) -> SpaceListFilters:
    """The ``space_id`` / ``space_name`` / ``name`` query every space-owned list takes."""
    return SpaceListFilters(
        space_id=maybe_decode_id(Kind.SPACE, space_id, field="space_id"),
        space_name=space_name or None,
        name=name or None,
    )


SpaceFilters = Annotated[SpaceListFilters, Depends(space_list_filters)]
