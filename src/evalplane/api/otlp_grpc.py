"""OTLP/gRPC trace ingestion: ``TraceService/Export`` on a port of its own.

The same rules as ``POST /v1/traces``: the key in the ``authorization`` (with or without
``Bearer``) or ``api_key`` metadata, the space in ``arize-space-id``, the project from the
resource. The key and its write permission are checked before the message is parsed, and an
export is acknowledged only once its spans are committed (re-sent spans are skipped).

The handler takes the request as raw bytes, so that parsing, like on the HTTP path, happens
after authentication and off the event loop when the message is large. gRPC itself undoes
gzip (``grpc-encoding``) and bounds each message, compressed and inflated, to
``otlp_max_body_bytes``.
"""

from __future__ import annotations

import logging

import grpc
from grpc import aio
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from evalplane.api.deps import RateLimited, principal_for
from evalplane.api.routers import otlp as http_otlp
from evalplane.api.state import AppState
from evalplane.core.errors import DomainError, Forbidden, InvalidInput, NotFound, Unauthenticated
from evalplane.domains.spans import service
from evalplane.ingest import compression, otlp

log = logging.getLogger("evalplane.ingest")

SERVICE = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name
# How long in-flight exports may take to finish (and be stored) when the server stops.
STOP_GRACE_SECONDS = 5.0
# Exports handled at once per process; more are refused with RESOURCE_EXHAUSTED, which
# exporters retry. Bounds the memory a burst of large messages can hold.
MAX_CONCURRENT_EXPORTS = 64

_CODES: tuple[tuple[type[DomainError], grpc.StatusCode], ...] = (
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (Forbidden, grpc.StatusCode.PERMISSION_DENIED),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    # exporters retry RESOURCE_EXHAUSTED, which suits a rate limit
    (RateLimited, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (compression.PayloadTooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
)


def status_for(error: DomainError) -> grpc.StatusCode:
    """The gRPC status of a domain error (INVALID_ARGUMENT unless a closer one exists)."""
    for kind, code in _CODES:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.INVALID_ARGUMENT


def peer_address(peer: str) -> str | None:
    """The client's host from gRPC's peer string (``ipv4:1.2.3.4:5``, ``ipv6:[::1]:5``)."""
    family, _, rest = peer.partition(":")
    if family == "ipv4":
        return rest.rpartition(":")[0] or None
    if family == "ipv6":
        return rest.rpartition(":")[0].strip("[]") or None
    return None  # unix sockets and the like: no address to count failures against


class TraceReceiver:
    """Serves ``Export`` for one process's app state."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    async def export(self, request: bytes, context: aio.ServicerContext[bytes, bytes]) -> bytes:
        metadata = _metadata(context)
        try:
            decoded = await self._store(request, metadata, peer_address(context.peer()))
        except DomainError as exc:
            await context.abort(status_for(exc), exc.detail)
        except Exception:  # noqa: BLE001 - e.g. the database is unreachable: nothing was acknowledged
            log.exception("an OTLP/gRPC export could not be stored")
            await context.abort(
                grpc.StatusCode.UNAVAILABLE, "The spans could not be stored right now; send them again."
            )
        self.state.wake_engine()
        return otlp.encode_response(decoded, otlp.PROTOBUF)

    async def _store(self, request: bytes, metadata: dict[str, str], client: str | None) -> otlp.DecodedRequest:
        state = self.state
        principal = await principal_for(state, http_otlp.ingest_token(metadata), client)
        async with state.db.session() as session:
            space_id = await service.ingest_space(session, principal, http_otlp.space_hint(metadata))
        limit = state.settings.otlp_max_body_bytes
        decoded = await http_otlp.decode_body(request, None, otlp.PROTOBUF, limit)
        await state.spans.store(space_id, decoded)
        return decoded


def _metadata(context: aio.ServicerContext[bytes, bytes]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if isinstance(value, str):  # binary (-bin) entries carry nothing we read
            found.setdefault(key.lower(), value)
    return found


async def start(state: AppState) -> aio.Server | None:
    """Start the receiver on the configured port; None when it is turned off."""
    settings = state.settings
    if not settings.otlp_grpc_port:
        return None
    limit = settings.otlp_max_body_bytes
    server = aio.server(
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.so_reuseport", 1 if settings.otlp_grpc_reuse_port else 0),
        ],
        compression=None,
        maximum_concurrent_rpcs=MAX_CONCURRENT_EXPORTS,
    )
    receiver = TraceReceiver(state)
    handler = grpc.unary_unary_rpc_method_handler(receiver.export)  # raw bytes in and out
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Export": handler}),))
    address = f"{_host(settings.host)}:{settings.otlp_grpc_port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise RuntimeError(
            f"cannot listen for OTLP/gRPC on {address} (in use?); set EVALPLANE_OTLP_GRPC_PORT "
            "to another port, or to 0 to turn the receiver off"
        )
    await server.start()
    log.info("OTLP/gRPC receiver listening on %s", address)
    return server


async def stop(server: aio.Server) -> None:
    """Refuse new exports and let those in flight be stored and answered."""
    await server.stop(STOP_GRACE_SECONDS)


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
