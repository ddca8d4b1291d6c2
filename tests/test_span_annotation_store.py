"""``record_annotations``: the bulk entry point for span annotations (Arrow uploads use it)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from evalplane.core.errors import NotFound, Unprocessable
from evalplane.db.models import AnnotationConfig, Project, Span
from evalplane.domains.annotations.spans import SpanAnnotationInput, annotations_for, record_annotations
from evalplane.domains.spans import service
from tests.arrange import a_space
from tests.support_spans import decoded


async def _project_with_spans(database, count: int) -> tuple[int, int, list[str]]:
    space_id = await a_space(database)
    async with database.session() as session:
        await service.store(session, space_id, decoded(count))
        project_id = await session.scalar(select(Project.id).where(Project.space_id == space_id))
        assert project_id is not None
        span_ids = list((await session.scalars(select(Span.span_id).where(Span.project_id == project_id))).all())
        session.add_all(
            [
                AnnotationConfig(
                    space_id=space_id,
                    name="quality",
                    config_type="CATEGORICAL",
                    values=[{"label": "good", "score": 1.0}, {"label": "bad", "score": 0.0}],
                    optimization_direction="NONE",
                ),
                AnnotationConfig(
                    space_id=space_id, name="notes", config_type="FREEFORM", optimization_direction="NONE"
                ),
            ]
        )
    return space_id, project_id, span_ids


async def _shown(database, project_id: int) -> dict[str, dict[str, tuple]]:
    async with database.session() as session:
        rows = {r.id: r.span_id for r in (await session.execute(select(Span.id, Span.span_id))).all()}
        notes = await annotations_for(session, rows)
    return {
        rows[row]: {a.name: (a.label, a.score, a.text, a.annotator_email) for a in found}
        for row, found in notes.items()
    }


async def test_bulk_annotations_are_checked_upserted_and_all_or_nothing(database) -> None:
    space_id, project_id, (a, b, c) = await _project_with_spans(database, 3)
    rows = [
        SpanAnnotationInput(a.upper(), "quality", label="good", updated_by="ann@example.com"),
        SpanAnnotationInput(b, "notes", text="looks off"),
    ]
    async with database.session() as session:
        assert await record_annotations(session, space_id, project_id, rows) == []
    assert await _shown(database, project_id) == {
        a: {"quality": ("good", 1.0, None, "ann@example.com")},
        b: {"notes": (None, None, "looks off", None)},
    }

    async with database.session() as session:  # the same name again replaces the value
        await record_annotations(session, space_id, project_id, [SpanAnnotationInput(a, "quality", label="bad")])
    assert (await _shown(database, project_id))[a] == {"quality": ("bad", 0.0, None, None)}

    missing = "0123456789abcdef"
    for bad, error in (
        ([SpanAnnotationInput(c, "notes", text="x"), SpanAnnotationInput(missing, "notes", text="y")], NotFound),
        ([SpanAnnotationInput(c, "notes", text="x"), SpanAnnotationInput(c, "quality", label="meh")], Unprocessable),
        ([SpanAnnotationInput(c, "unknown", label="x")], Unprocessable),
    ):
        with pytest.raises(error):
            async with database.session() as session:
                await record_annotations(session, space_id, project_id, bad)
    assert c not in await _shown(database, project_id)

    async with database.session() as session:  # not strict: the found spans are written, the rest named
        written = [SpanAnnotationInput(c, "notes", text="x"), SpanAnnotationInput(missing, "notes", text="y")]
        assert await record_annotations(session, space_id, project_id, written, strict=False) == [missing]
    assert (await _shown(database, project_id))[c] == {"notes": (None, None, "x", None)}
