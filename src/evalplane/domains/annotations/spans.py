"""Human annotations on spans: written through ``POST /v2/spans/annotate`` or in bulk, read
back on ``/v2/spans`` and filtered as ``annotation.<name>.label|score|text``.

An annotation is upserted by (span, name): writing the same name on the same span again
replaces the earlier value, so a retried request changes nothing. Every value is checked
against the annotation config of its name in the project's space (``configs.checked_value``)
before anything is written, and every span must be found first: a request either writes all
its annotations or none.

Bulk writers (for instance an Arrow upload of ``annotation.<name>.*`` columns) call
``record_annotations``; they check the caller's right to write to the project themselves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.clock import as_utc, utcnow
from evalplane.core.errors import InvalidInput, NotFound, Unprocessable
from evalplane.db.dialect import insert_for
from evalplane.db.models import Span, SpanAnnotation, User
from evalplane.domains import common
from evalplane.domains.access.principal import Principal
from evalplane.domains.annotations import configs
from evalplane.domains.datasets.annotations import AnnotationValue, clean_values

GRANULARITIES = ("SPAN", "TRACE", "SESSION")
MAX_RECORDS = {"SPAN": 1000, "TRACE": 1000, "SESSION": 100}
MAX_WINDOW = {"SPAN": timedelta(days=31), "TRACE": timedelta(days=31), "SESSION": timedelta(days=7)}
# A client clock a little ahead of ours is not "the future".
CLOCK_SLACK = timedelta(minutes=5)
TEXT_MAX = 10_000
MAX_VALUES = 10_000  # annotation values in one request, all records together
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class SpanAnnotationInput:
    """One annotation for ``record_annotations``: the span (16 hex digits) and the value."""

    span_id: str
    name: str
    label: str | None = None
    score: float | None = None
    text: str | None = None
    updated_by: str | None = None  # who wrote it, as the source names them


@dataclass(frozen=True, slots=True)
class ShownAnnotation:
    """An annotation as a span read shows it."""

    name: str
    label: str | None
    score: float | None
    text: str | None
    updated_at: datetime
    annotator_id: int | None
    annotator_email: str | None


@dataclass(frozen=True, slots=True)
class _Row:
    span_row_id: int
    name: str
    label: str | None
    score: float | None
    text: str | None
    updated_by: str | None


async def record_annotations(
    session: AsyncSession,
    space_id: int,
    project_id: int,
    annotations: Sequence[SpanAnnotationInput],
    *,
    annotator_id: int | None = None,
    strict: bool = True,
) -> list[str]:
    """Upsert ``annotations`` on the project's spans; returns the span ids that were not found.

    Each value is checked against its config in ``space_id`` first (``Unprocessable`` or
    ``InvalidInput`` naming the problem, nothing written). ``strict``: a span id that names no
    span of the project is ``NotFound`` and nothing is written; otherwise its annotations are
    left out and the id returned. Does not commit; the caller checks the right to write.
    """
    checked = await _checked(session, space_id, [(a.name, a.label, a.score, a.text) for a in annotations])
    wanted = sorted({_span_key(a.span_id) for a in annotations})
    found = await _span_rows(session, project_id, wanted)
    missing = [span_id for span_id in wanted if span_id not in found]
    if missing and strict:
        raise NotFound(_missing_message("span", missing))
    rows = [
        _Row(row_id, a.name, *value, a.updated_by)
        for a, value in zip(annotations, checked, strict=True)
        for row_id in found.get(_span_key(a.span_id), [])
    ]
    await _upsert(session, rows, annotator_id)
    return missing


async def annotate(
    session: AsyncSession,
    principal: Principal,
    project_id: int,
    records: Sequence[tuple[str, list[AnnotationValue]]],
    *,
    granularity: str | None = None,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
) -> int:
    """``POST /v2/spans/annotate``: each record names a span, a trace (by its root span) or a
    session (its first trace's root span in the window); returns the number of values written."""
    project = await common.visible_project(session, project_id, principal)
    principal.require_project_write(project.id, project.space_id)
    kind = _granularity(granularity)
    start, end = _window(kind, start_time, end_time)
    if len(records) > MAX_RECORDS[kind]:
        raise InvalidInput(
            f"At most {MAX_RECORDS[kind]} records may be annotated per {kind} request.", field="annotations"
        )
    seen: set[str] = set()
    for i, (record_id, values) in enumerate(records):
        clean_values(values, f"annotations[{i}]")
        if record_id in seen:
            raise InvalidInput(f"annotations[{i}]: record '{record_id}' is given twice.", field="annotations")
        seen.add(record_id)
    flat = [(v.name, v.label, v.score, v.text) for _, values in records for v in values]
    if len(flat) > MAX_VALUES:
        raise InvalidInput(f"At most {MAX_VALUES} annotation values may be sent per request.", field="annotations")
    checked = iter(await _checked(session, project.space_id, flat))
    targets = await _targets(session, project.id, kind, [r for r, _ in records], start, end)
    rows = [
        _Row(targets[record_id], value.name, *next(checked), None) for record_id, values in records for value in values
    ]
    await _upsert(session, rows, principal.user_id)
    return len(rows)


async def annotations_for(session: AsyncSession, span_row_ids: Iterable[int]) -> dict[int, list[ShownAnnotation]]:
    """The annotations of each span row, by name, with the annotating user's email."""
    ids = list(span_row_ids)
    found: dict[int, list[ShownAnnotation]] = defaultdict(list)
    for i in range(0, len(ids), _CHUNK):
        stmt = (
            select(SpanAnnotation, User.email)
            .outerjoin(User, User.id == SpanAnnotation.annotator_id)
            .where(SpanAnnotation.span_row_id.in_(ids[i : i + _CHUNK]))
            .order_by(SpanAnnotation.name)
        )
        for note, email in (await session.execute(stmt)).all():
            found[note.span_row_id].append(
                ShownAnnotation(
                    name=note.name,
                    label=note.label,
                    score=note.score,
                    text=note.text,
                    updated_at=note.updated_at,
                    annotator_id=note.annotator_id,
                    annotator_email=email if email is not None else note.updated_by,
                )
            )
    return found


# -- checks ------------------------------------------------------------------------------------


def _granularity(value: str | None) -> str:
    kind = (value or "SPAN").strip().upper()
    if kind not in GRANULARITIES:
        raise InvalidInput(f"'granularity' must be one of {', '.join(GRANULARITIES)}.", field="granularity")
    return kind


def _window(kind: str, start_time: datetime | None, end_time: datetime | None) -> tuple[datetime, datetime]:
    now = utcnow()
    end = as_utc(end_time) if end_time is not None else now
    start = as_utc(start_time) if start_time is not None else end - MAX_WINDOW[kind]
    for field, value in (("start_time", start), ("end_time", end)):
        if value > now + CLOCK_SLACK:
            raise InvalidInput(f"'{field}' may not be in the future.", field=field)
    if start > end:
        raise InvalidInput("'start_time' must not be after 'end_time'.", field="start_time")
    if end - start > MAX_WINDOW[kind]:
        days = MAX_WINDOW[kind].days
        raise InvalidInput(f"The window may span at most {days} days for {kind} annotations.", field="start_time")
    return start, end


async def _checked(
    session: AsyncSession, space_id: int, values: Sequence[tuple[str, str | None, float | None, str | None]]
) -> list[tuple[str | None, float | None, str | None]]:
    known = await configs.configs_named(session, space_id, {name for name, *_ in values})
    out = []
    for name, label, score, text in values:
        if text is not None and len(text) > TEXT_MAX:
            raise InvalidInput(f"The text of '{name}' is longer than {TEXT_MAX} characters.", field="annotations")
        out.append(configs.checked_value(known.get(name), name, label, score, text))
    return out


def _span_key(span_id: str) -> str:
    return span_id.strip().lower()


def _missing_message(what: str, missing: Sequence[str]) -> str:
    shown = ", ".join(f"'{m}'" for m in missing[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    return f"No {what} {shown}{more} was found in this project and window; nothing was written."


# -- finding the spans -------------------------------------------------------------------------


async def _span_rows(
    session: AsyncSession,
    project_id: int,
    span_ids: Sequence[str],
    window: tuple[datetime, datetime] | None = None,
    roots_only: bool = False,
) -> dict[str, list[int]]:
    found: dict[str, list[int]] = defaultdict(list)
    for i in range(0, len(span_ids), _CHUNK):
        stmt = select(Span.span_id, Span.id, Span.parent_id).where(
            Span.project_id == project_id, Span.span_id.in_(span_ids[i : i + _CHUNK])
        )
        if window is not None:
            stmt = stmt.where(Span.start_time >= window[0], Span.start_time <= window[1])
        for span_id, row_id, parent_id in (await session.execute(stmt)).all():
            if roots_only and parent_id is not None:
                raise Unprocessable(
                    f"Span '{span_id}' is not the root span of its trace; TRACE annotations go on roots."
                )
            found[span_id].append(row_id)
    return found


async def _targets(
    session: AsyncSession, project_id: int, kind: str, record_ids: Sequence[str], start: datetime, end: datetime
) -> dict[str, int]:
    """The span row each record id names; ``NotFound`` (nothing written) if any is missing."""
    if kind == "SESSION":
        targets = {}
        for record_id in record_ids:
            row_id = await _session_root(session, project_id, record_id, start, end)
            if row_id is not None:
                targets[record_id] = row_id
        what = "session"
    else:
        keys = {record_id: _span_key(record_id) for record_id in record_ids}
        rows = await _span_rows(session, project_id, sorted(set(keys.values())), (start, end), kind == "TRACE")
        targets = {record_id: rows[key][0] for record_id, key in keys.items() if rows.get(key)}
        what = "span" if kind == "SPAN" else "trace root span"
    missing = [record_id for record_id in record_ids if record_id not in targets]
    if missing:
        raise NotFound(_missing_message(what, missing))
    return targets


async def _session_root(
    session: AsyncSession, project_id: int, session_id: str, start: datetime, end: datetime
) -> int | None:
    """The root span of the session's earliest trace in the window."""
    in_window = (Span.project_id == project_id, Span.start_time >= start, Span.start_time <= end)
    first_trace = await session.scalar(
        select(Span.trace_id)
        .where(*in_window, Span.session_id == session_id)
        .order_by(Span.start_time, Span.trace_id)
        .limit(1)
    )
    if first_trace is None:
        return None
    return await session.scalar(
        select(Span.id)
        .where(Span.project_id == project_id, Span.trace_id == first_trace, Span.parent_id.is_(None))
        .order_by(Span.start_time)
        .limit(1)
    )


# -- writing -----------------------------------------------------------------------------------


async def _upsert(session: AsyncSession, rows: Sequence[_Row], annotator_id: int | None) -> None:
    if not rows:
        return
    now = utcnow()
    latest: dict[tuple[int, str], _Row] = {}
    for row in rows:  # one statement may not touch a row twice (PostgreSQL refuses)
        latest[(row.span_row_id, row.name)] = row
    values: list[dict[str, Any]] = [
        {
            "span_row_id": row.span_row_id,
            "name": row.name,
            "label": row.label,
            "score": row.score,
            "text": row.text,
            "annotator_id": annotator_id,
            "updated_by": row.updated_by,
            "created_at": now,
            "updated_at": now,
        }
        for row in latest.values()
    ]
    dialect = session.get_bind().dialect.name
    table = SpanAnnotation.__table__
    for i in range(0, len(values), _CHUNK):
        stmt = insert_for(dialect, table).values(values[i : i + _CHUNK])
        stmt = stmt.on_conflict_do_update(
            index_elements=["span_row_id", "name"],
            set_={
                field: stmt.excluded[field]
                for field in ("label", "score", "text", "annotator_id", "updated_by", "updated_at")
            },
        )
        await session.execute(stmt)
