"""OTLP/HTTP trace ingestion: ``POST /v1/traces`` as sent by OpenTelemetry exporters and arize-otel.

A 200 is sent only after the spans are committed. The response mirrors the request's
encoding (protobuf or JSON) and reports rejected spans in ``partial_success``; errors are
problem+json like every other endpoint.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from starlette.responses import Response

from evalplane.api import problems
from evalplane.api.deps import State, client_address, principal_for
from evalplane.api.state import AppState
from evalplane.core.errors import Unauthenticated
from evalplane.domains.access.principal import Principal
from evalplane.domains.spans import service
from evalplane.ingest import otlp

TRACES_PATH = "/v1/traces"
_MEDIA = {otlp.PROTOBUF: "application/x-protobuf", otlp.JSON: "application/json"}

router = APIRouter(tags=["OTLP"])


def ingest_token(request: Request) -> str:
    """The API key from ``authorization`` (with or without ``Bearer``) or ``api_key``."""
    header = request.headers.get("authorization", "").strip()
    if header:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else header
    key = (request.headers.get("api_key") or request.headers.get("api-key") or "").strip()
    if not key:
        raise Unauthenticated("Authentication is required: send 'authorization: Bearer <api-key>' or 'api_key'.")
    return key


async def ingest_principal(request: Request, state: AppState) -> Principal:
    return await principal_for(state, ingest_token(request), client_address(request))


def space_hint(request: Request) -> str | None:
    return request.headers.get("arize-space-id") or request.headers.get("space_id") or request.headers.get("space-id")


@router.post(TRACES_PATH, summary="Export traces (OTLP/HTTP)", response_class=Response)
async def export_traces(request: Request, state: State) -> Response:
    principal = await ingest_principal(request, state)
    try:
        fmt = otlp.body_format(request.headers.get("content-type"))
        limit = state.settings.otlp_max_body_bytes
        payload = otlp.inflate(await request.body(), request.headers.get("content-encoding"), limit)
    except otlp.UnsupportedMediaType as exc:
        return problems.problem(415, exc.detail, instance=TRACES_PATH)
    except otlp.PayloadTooLarge as exc:
        return problems.problem(413, exc.detail, instance=TRACES_PATH)
    # Decoding a large batch takes a while; off the event loop, other requests keep flowing.
    prepare = service.prepare_attributes
    if len(payload) > 65536:
        decoded = await asyncio.to_thread(otlp.decode, payload, fmt, prepare)
    else:
        decoded = otlp.decode(payload, fmt, prepare)
    async with state.db.session() as session:
        space_id = await service.ingest_space(session, principal, space_hint(request))
    await state.spans.store(space_id, decoded)
    state.wake_engine()
    return Response(otlp.encode_response(decoded, fmt), media_type=_MEDIA[fmt])
