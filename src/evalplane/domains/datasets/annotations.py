"""Human annotations on a record (a dataset example or an experiment run), upserted by name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.clock import isoformat, utcnow
from evalplane.core.errors import InvalidInput
from evalplane.db.models import User


@dataclass(frozen=True, slots=True)
class AnnotationValue:
    name: str
    score: float | None = None
    label: str | None = None
    text: str | None = None


def clean_values(values: list[AnnotationValue], where: str) -> list[AnnotationValue]:
    seen: set[str] = set()
    for value in values:
        if not value.name.strip():
            raise InvalidInput(f"{where}: every annotation needs a non-empty 'name'.", field="annotations")
        if value.name in seen:
            raise InvalidInput(f"{where}: annotation '{value.name}' is given twice.", field="annotations")
        seen.add(value.name)
    return values


async def annotator(session: AsyncSession, user_id: int) -> dict[str, Any]:
    from evalplane.core.ids import Kind, encode_id

    email = await session.scalar(select(User.email).where(User.id == user_id))
    return {"id": encode_id(Kind.USER, user_id), "email": email or ""}


def upsert(existing: list[dict[str, Any]], values: list[AnnotationValue], who: dict[str, Any]) -> list[dict[str, Any]]:
    """A new list where each value replaces the annotation of the same name (others are kept)."""
    now = isoformat(utcnow())
    by_name = {a.get("name"): a for a in existing or []}
    for value in values:
        entry: dict[str, Any] = {"name": value.name, "updated_at": now, "annotator": who}
        for field in ("score", "label", "text"):
            if getattr(value, field) is not None:
                entry[field] = getattr(value, field)
        by_name[value.name] = entry
    return list(by_name.values())


def flatten(annotations: list[dict[str, Any]]) -> dict[str, Any]:
    """``annotation.<name>.<field>`` columns, as filters and the SDK's DataFrames name them."""
    out: dict[str, Any] = {}
    for a in annotations or []:
        for field in ("score", "label", "text", "updated_at"):
            if a.get(field) is not None:
                out[f"annotation.{a['name']}.{field}"] = a[field]
    return out
