"""``POST /v1/pandas_arrow``: spans and evaluations logged from DataFrames by the ``arize`` SDK
(``spans.log``, and ``update_evaluations(force_http=True)``).

The body is an Arrow IPC stream whose schema metadata carries the SDK's ``arize-schema``
(which names the project). A table with span columns (``context.trace_id``, ``name``,
``start_time``...) is a ``spans.log``: its spans are stored in the project (created on first
use), with any ``eval.*`` columns as their evaluations. A table of ``context.span_id`` and
``eval.*`` columns updates evaluations of stored spans. The same headers and rules as
``/v1/traces``: the key and write permission are checked before the body is read, and a 200
means everything is stored; a table with any row that cannot be stored is refused whole.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pyarrow as pa
from fastapi import APIRouter, Request
from starlette.responses import Response

from evalplane.api.deps import State, client_address, note_caller, principal_for
from evalplane.api.routers.otlp import ingest_token, space_hint
from evalplane.api.wire import JSONResponse
from evalplane.core.errors import InvalidInput
from evalplane.domains.spans import service, uploads
from evalplane.ingest import arize_schema, arrow_spans

PANDAS_ARROW_PATH = "/v1/pandas_arrow"

router = APIRouter(tags=["OTLP"])


@dataclass
class _Upload:
    project_name: str
    spans: arrow_spans.SpanUpload | None
    evaluations: list[arrow_spans.EvaluationRecord]


@router.post(PANDAS_ARROW_PATH, summary="Log spans or evaluations from a DataFrame (Arrow)", response_class=Response)
async def log_table(request: Request, state: State) -> Response:
    token = ingest_token(request.headers)
    principal = note_caller(request, await principal_for(state, token, client_address(request)))
    # The write permission is checked before the body is read, as on /v1/traces.
    async with state.db.session() as session:
        space_id = await service.ingest_space(session, principal, space_hint(request.headers))
    body = await request.body()
    upload = await asyncio.to_thread(read_upload, body)
    async with state.db.session() as session:
        if upload.spans is not None:
            outcome = await uploads.store_spans(session, space_id, upload.spans)
        else:
            project_id = await uploads.existing_project(session, space_id, upload.project_name)
            outcome = await uploads.store_evaluations(session, project_id, upload.evaluations)
    if upload.spans is not None:
        state.wake_engine()
    return JSONResponse(
        {
            "project_name": upload.project_name,
            "spans_accepted": upload.spans.spans.accepted if upload.spans is not None else 0,
            "spans_evaluated": outcome.records_updated,
            "unmatched_ids": outcome.unmatched_ids,
        }
    )


def read_upload(body: bytes) -> _Upload:
    """Decode the Arrow stream and convert its table (in a worker thread: it can be large)."""
    try:
        reader = pa.ipc.open_stream(pa.py_buffer(body))
        schema = arize_schema.upload_schema(reader.schema.metadata)
        if not schema.is_spans:
            raise InvalidInput("Only tracing uploads (spans.log, update_evaluations) are accepted here.")
        names = set(reader.schema.names)
        if {arrow_spans.TRACE_ID, *arrow_spans.SPAN_COLUMNS} & names:
            spans = arrow_spans.spans_from(reader, schema.project_name, service.prepare_attributes)
            return _Upload(schema.project_name, spans, spans.evaluations)
        return _Upload(schema.project_name, None, arrow_spans.evaluations_from(reader))
    except (pa.ArrowException, OSError) as exc:  # a truncated stream is an OSError
        raise InvalidInput(f"The request body is not a valid Arrow IPC stream: {exc}") from None
