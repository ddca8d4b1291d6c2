"""Span updates over Flight: the SDK's default paths of ``spans.update_evaluations``,
``update_annotations`` and ``update_metadata`` (DoPut).

Uploads name the space (``spaceId``) and the project (``externalModelId``); writing needs
the same role as sending spans. The table is read through :mod:`evalplane.ingest.arrow_spans`
(the same conversion ``/v1/pandas_arrow`` uses), spooled first, and written in one
transaction: a broken stream or a bad row stores nothing.
"""

from __future__ import annotations

from pyarrow import flight

from evalplane.core.errors import InvalidInput
from evalplane.domains.annotations.spans import SpanAnnotationInput, record_annotations
from evalplane.domains.spans import service, uploads
from evalplane.flight.protocol import Fields, encode_message
from evalplane.flight.registry import FlightCall, Routes
from evalplane.flight.tables import Spool, receive
from evalplane.ingest import arrow_spans

routes = Routes()

# Rows converted at a time while reading a spooled upload.
MAX_CHUNK = 5000


def _space_and_project(call: FlightCall, fields: Fields) -> tuple[int, int]:
    """The space (the caller must be allowed to write spans there) and its existing project."""
    hint = fields.require("space_id")
    name = fields.require("external_model_id")

    async def resolve() -> tuple[int, int]:
        async with call.state.db.session() as session:
            space_id = await service.ingest_space(session, call.principal, hint)
            return space_id, await uploads.existing_project(session, space_id, name)

    return call.run(resolve())


def _spooled(call: FlightCall, reader: flight.MetadataRecordBatchReader) -> Spool:
    spool = Spool(reader.schema, call.state.settings.flight_max_upload_bytes)
    try:
        receive(reader, spool, call.ensure_live)
    except BaseException:
        spool.close()
        raise
    if spool.rows == 0:
        spool.close()
        raise InvalidInput("The upload holds no rows.")
    return spool


@routes.put("write_span_evaluation_request")
def write_evaluations(call: FlightCall, fields: Fields, reader: flight.MetadataRecordBatchReader) -> bytes:
    """``update_evaluations``: ``eval.<name>.*`` (and ``trace_eval.`` / ``session_eval.``) columns
    by ``context.span_id``; the reply counts the rows written and lists unknown span ids."""
    _, project_id = _space_and_project(call, fields)
    with _spooled(call, reader) as spool:
        records = arrow_spans.evaluations_from(spool.batches(MAX_CHUNK))

    async def store() -> uploads.EvaluationOutcome:
        async with call.state.db.session() as session:
            return await uploads.store_evaluations(session, project_id, records)

    outcome = call.run(store())
    return encode_message([(1, outcome.records_updated), (2, outcome.unmatched_ids)])


@routes.put("write_span_annotation_request")
def write_annotations(call: FlightCall, fields: Fields, reader: flight.MetadataRecordBatchReader) -> bytes:
    """``update_annotations``: ``annotation.<name>.label|score|text`` columns by
    ``context.span_id``, each value checked against the space's annotation config of that name."""
    space_id, project_id = _space_and_project(call, fields)
    with _spooled(call, reader) as spool:
        upload = arrow_spans.annotations_from(spool.batches(MAX_CHUNK))
    if upload.notes:
        raise InvalidInput("'annotation.notes' is not stored by this server yet; send the annotations without it.")
    inputs = [
        SpanAnnotationInput(a.span_id, a.name, a.label, a.score, a.text, updated_by=a.updated_by)
        for a in upload.annotations
    ]

    async def store() -> list[str]:
        async with call.state.db.session() as session:
            return await record_annotations(session, space_id, project_id, inputs, strict=False)

    unmatched = call.run(store())
    annotated = len({a.span_id for a in upload.annotations} - set(unmatched))
    return encode_message([(1, annotated), (2, unmatched)])


@routes.put("write_span_attributes_metadata_request")
def write_metadata(call: FlightCall, fields: Fields, reader: flight.MetadataRecordBatchReader) -> bytes:
    """``update_metadata``: ``patch_document`` (a JSON object) merged into each span's
    ``attributes.metadata``; unknown span ids are reported as failed rows."""
    _, project_id = _space_and_project(call, fields)
    with _spooled(call, reader) as spool:
        patches = arrow_spans.metadata_patches_from(spool.batches(MAX_CHUNK))

    async def store() -> uploads.MetadataOutcome:
        async with call.state.db.session() as session:
            return await uploads.apply_metadata(session, project_id, patches)

    outcome = call.run(store())
    errors = [encode_message([(1, span_id), (2, message)]) for span_id, message in outcome.errors]
    return encode_message(
        [(1, outcome.spans_processed), (2, outcome.spans_updated), (3, outcome.spans_failed), (4, errors)]
    )
