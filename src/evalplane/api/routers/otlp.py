"""OTLP/HTTP trace ingestion: ``POST /v1/traces`` as sent by OpenTelemetry exporters and arize-otel.

A 200 is sent only after the spans are committed. The response mirrors the request's
encoding (protobuf or JSON) and reports rejected spans in ``partial_success``; errors are
problem+json like every other endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from fastapi import APIRouter, Request
from starlette.responses import Response

from evalplane.api import problems
from evalplane.api.deps import State, client_address, note_caller, principal_for
from evalplane.core.errors import Unauthenticated
from evalplane.domains.spans import service
from evalplane.ingest import compression, otlp

TRACES_PATH = "/v1/traces"
_MEDIA = {otlp.PROTOBUF: "application/x-protobuf", otlp.JSON: "application/json"}
_INLINE_BYTES = 65536  # smaller plain bodies decode faster than a hop to a thread

router = APIRouter(tags=["OTLP"])


# Request headers, or gRPC metadata, looked up by lower-case name.
Headers = Mapping[str, str]


def ingest_token(headers: Headers) -> str:
    """The API key from ``authorization`` (with or without ``Bearer``) or ``api_key``."""
    header = (headers.get("authorization") or "").strip()
    if header:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else header
    key = (headers.get("api_key") or headers.get("api-key") or "").strip()
    if not key:
        raise Unauthenticated("Authentication is required: send 'authorization: Bearer <api-key>' or 'api_key'.")
    return key


def space_hint(headers: Headers) -> str | None:
    return headers.get("arize-space-id") or headers.get("space_id") or headers.get("space-id")


@router.post(TRACES_PATH, summary="Export traces (OTLP/HTTP)", response_class=Response)
async def export_traces(request: Request, state: State) -> Response:
    token = ingest_token(request.headers)
    principal = note_caller(request, await principal_for(state, token, client_address(request)))
    try:
        fmt = otlp.body_format(request.headers.get("content-type"))
    except compression.UnsupportedMediaType as exc:
        return problems.problem(415, exc.detail, instance=TRACES_PATH)
    # The write permission is checked before the body is even read: a key that may not
    # write here must not make the server decompress or parse anything.
    async with state.db.session() as session:
        space_id = await service.ingest_space(session, principal, space_hint(request.headers))
    body = await request.body()
    encoding = request.headers.get("content-encoding")
    try:
        decoded = await decode_body(body, encoding, fmt, state.settings.otlp_max_body_bytes)
    except compression.UnsupportedMediaType as exc:
        return problems.problem(415, exc.detail, instance=TRACES_PATH)
    except compression.PayloadTooLarge as exc:
        return problems.problem(413, exc.detail, instance=TRACES_PATH)
    await state.spans.store(space_id, decoded)
    state.wake_engine()
    return Response(otlp.encode_response(decoded, fmt), media_type=_MEDIA[fmt])


async def decode_body(body: bytes, encoding: str | None, fmt: str, limit: int) -> otlp.DecodedRequest:
    """Inflate and decode; off the event loop unless the body is small and plain."""
    plain = (encoding or "identity").strip().lower() in ("", "identity")
    if plain and len(body) <= _INLINE_BYTES:
        return _inflate_and_decode(body, encoding, fmt, limit)
    return await asyncio.to_thread(_inflate_and_decode, body, encoding, fmt, limit)


def _inflate_and_decode(body: bytes, encoding: str | None, fmt: str, limit: int) -> otlp.DecodedRequest:
    return otlp.decode(compression.inflate(body, encoding, limit), fmt, service.prepare_attributes)
