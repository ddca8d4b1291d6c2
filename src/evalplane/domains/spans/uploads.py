"""Spans, evaluations and metadata sent as tables (the SDK's ``spans.log``,
``update_evaluations`` and ``update_metadata``), stored in a project of a space.

Every write here is idempotent: spans already stored are skipped, an evaluation replaces the
one of the same name on the same span (or trace, or session), a metadata patch sets the same
keys again. A client that did not get its answer may send the same table again.
The caller checks that the principal may write in the space; services never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.clock import utcnow
from evalplane.core.errors import NotFound
from evalplane.db.dialect import dialect_of
from evalplane.db.models import Project, SessionEvaluation, Span, SpanEvaluation, TraceEvaluation
from evalplane.domains.spans import repository, service
from evalplane.ingest.arrow_spans import EvaluationRecord, MetadataPatch, SpanUpload, merge_metadata

_CHUNK = 500
_EVALUATION_FIELDS = ("label", "score", "explanation", "metadata", "task_id", "task_run_id", "updated_at")


@dataclass
class EvaluationOutcome:
    """How many spans got evaluations, and the span ids no stored span has."""

    records_updated: int = 0
    unmatched_ids: list[str] = field(default_factory=list)


@dataclass
class MetadataOutcome:
    spans_processed: int = 0
    spans_updated: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (span id, message)

    @property
    def spans_failed(self) -> int:
        return self.spans_processed - self.spans_updated


@dataclass(frozen=True, slots=True)
class _Target:
    row_id: int
    trace_id: str
    session_id: str | None


async def existing_project(session: AsyncSession, space_id: int, name: str) -> int:
    """The project ``name`` of the space; updates need spans, so a missing project is 404."""
    found = await session.scalar(select(Project.id).where(Project.space_id == space_id, Project.name == name))
    if found is None:
        raise NotFound(f"Project '{name}' was not found in this space.")
    return found


async def store_spans(session: AsyncSession, space_id: int, upload: SpanUpload) -> EvaluationOutcome:
    """Store the spans of a ``spans.log`` table, then the evaluations joined to them."""
    await service.store(session, space_id, upload.spans)
    if not upload.evaluations:
        return EvaluationOutcome()
    project_id = await repository.ensure_project(session, space_id, upload.spans.batches[0].project_name)
    return await store_evaluations(session, project_id, upload.evaluations)


async def _targets(session: AsyncSession, project_id: int, span_ids: Iterable[str]) -> dict[str, list[_Target]]:
    """The stored spans of the project with these span ids (one id may be in several traces)."""
    wanted = sorted(set(span_ids))
    found: dict[str, list[_Target]] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        stmt = select(Span.id, Span.span_id, Span.trace_id, Span.session_id).where(
            Span.project_id == project_id, Span.span_id.in_(chunk)
        )
        for row_id, span_id, trace_id, session_id in (await session.execute(stmt)).all():
            found.setdefault(span_id, []).append(_Target(row_id, trace_id, session_id))
    return found


async def store_evaluations(
    session: AsyncSession, project_id: int, records: Sequence[EvaluationRecord]
) -> EvaluationOutcome:
    """Write each evaluation on its span (``eval.``), its trace (``trace_eval.``) or its session
    (``session_eval.``); a later row for the same target and name wins."""
    targets = await _targets(session, project_id, (r.span_id for r in records))
    now = utcnow()
    spans: dict[tuple[int, str], dict[str, Any]] = {}
    traces: dict[tuple[str, str], dict[str, Any]] = {}
    sessions: dict[tuple[str, str], dict[str, Any]] = {}
    outcome = EvaluationOutcome()
    unmatched: dict[str, None] = {}
    matched: dict[str, None] = {}
    for record in records:
        found = targets.get(record.span_id)
        if not found:
            unmatched[record.span_id] = None
            continue
        values = {
            "name": record.name,
            "label": record.label,
            "score": record.score,
            "explanation": record.explanation,
            "metadata": None,
            "task_id": None,
            "task_run_id": None,
            "created_at": now,
            "updated_at": now,
        }
        matched[record.span_id] = None
        for target in found:
            if record.scope == "span":
                spans[(target.row_id, record.name)] = {"span_row_id": target.row_id, **values}
            elif record.scope == "trace":
                traces[(target.trace_id, record.name)] = {
                    "project_id": project_id,
                    "trace_id": target.trace_id,
                    **values,
                }
            elif target.session_id is not None:
                sessions[(target.session_id, record.name)] = {
                    "project_id": project_id,
                    "session_id": target.session_id,
                    **values,
                }
    dialect = dialect_of(session)
    for model, keys, rows in (
        (SpanEvaluation, ["span_row_id", "name"], spans),
        (TraceEvaluation, ["project_id", "trace_id", "name"], traces),
        (SessionEvaluation, ["project_id", "session_id", "name"], sessions),
    ):
        if not rows:
            continue
        statement = dialect.insert(model.__table__)
        upsert = statement.on_conflict_do_update(
            index_elements=keys, set_={name: statement.excluded[name] for name in _EVALUATION_FIELDS}
        )
        await session.execute(upsert, list(rows.values()))
    outcome.records_updated = len(matched)
    outcome.unmatched_ids = list(unmatched)
    return outcome


async def apply_metadata(session: AsyncSession, project_id: int, patches: Sequence[MetadataPatch]) -> MetadataOutcome:
    """Merge each patch into the span's ``attributes.metadata``; unknown span ids are errors."""
    outcome = MetadataOutcome(spans_processed=len(patches))
    targets = await _targets(session, project_id, (p.span_id for p in patches))
    by_span: dict[str, dict[str, Any]] = {}
    for patch in patches:
        if patch.span_id not in targets:
            outcome.errors.append((patch.span_id, "No span with this id was found in the project."))
            continue
        by_span[patch.span_id] = merge_metadata(by_span.get(patch.span_id, {}), patch.patch)
        outcome.spans_updated += 1
    row_ids = [t.row_id for span_id in by_span for t in targets[span_id]]
    current: dict[int, dict[str, Any]] = {}
    for start in range(0, len(row_ids), _CHUNK):
        stmt = select(Span.id, Span.attributes).where(Span.id.in_(row_ids[start : start + _CHUNK]))
        current.update({row_id: attributes for row_id, attributes in (await session.execute(stmt)).all()})
    changes = []
    for span_id, merged in by_span.items():
        for target in targets[span_id]:
            attributes = dict(current.get(target.row_id) or {})
            attributes["metadata"] = merge_metadata(attributes.get("metadata"), merged)
            changes.append({"row_id": target.row_id, "new_attributes": attributes})
    if changes:
        table: Table = Span.__table__  # type: ignore[assignment]
        change = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values(attributes=bindparam("new_attributes", type_=table.c.attributes.type))
        )
        await session.execute(change, changes)
    return outcome
