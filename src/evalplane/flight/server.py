"""The Flight server: authenticates every call with the API's own key code, then dispatches it
by kind to the registered handlers, turning errors into Flight statuses."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from pyarrow import flight

from evalplane.api.deps import principal_for
from evalplane.api.state import AppState
from evalplane.core.errors import InvalidInput, Unauthenticated
from evalplane.flight.errors import to_flight
from evalplane.flight.protocol import Command, parse_command
from evalplane.flight.registry import UNWRAPPED, FlightCall, Routes

# The SDK sends its key as binary gRPC metadata; other clients may send a bearer token.
_KEY_HEADERS = ("auth-token-bin", "authorization")
_HEADERS = "headers"


class _Headers(flight.ServerMiddleware):
    def __init__(self, headers: dict[str, list[Any]]) -> None:
        self.headers = headers


class _HeaderCapture(flight.ServerMiddlewareFactory):
    """Keeps each call's request headers where its handler can read them."""

    def start_call(self, info: flight.CallInfo, headers: dict[str, list[Any]]) -> _Headers:
        return _Headers(headers)


def _api_key(context: flight.ServerCallContext) -> str:
    middleware = context.get_middleware(_HEADERS)
    headers: dict[str, list[Any]] = middleware.headers if middleware is not None else {}
    for name in _KEY_HEADERS:
        values = headers.get(name)
        if not values:
            continue
        value = values[0]
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        scheme, _, rest = text.strip().partition(" ")
        token = rest.strip() if scheme.lower() == "bearer" and rest else text.strip()
        if token:
            return token
    raise Unauthenticated("Authentication is required: send the API key (ArizeClient(api_key=...)).")


def _peer_host(context: flight.ServerCallContext) -> str | None:
    """The client's address without its port: ``ipv4:127.0.0.1:5000`` or ``ipv6:[::1]:5000``."""
    peer = context.peer()
    text = peer.decode("utf-8", "replace") if isinstance(peer, bytes) else str(peer or "")
    _, _, address = text.partition(":")
    host, _, _ = address.rpartition(":")
    return host.strip("[]") or None


class EvalplaneFlightServer(flight.FlightServerBase):
    def __init__(
        self,
        location: str,
        state: AppState,
        loop: asyncio.AbstractEventLoop,
        routes: Routes,
        tls_certificates: list[flight.CertKeyPair] | None = None,
    ) -> None:
        super().__init__(location, tls_certificates=tls_certificates, middleware={_HEADERS: _HeaderCapture()})
        self.state = state
        self.loop = loop
        self.routes = routes
        self.write_lock = threading.Lock() if state.db.dialect_name == "sqlite" else None

    # --- plumbing -------------------------------------------------------------------------

    def _authenticate(self, context: flight.ServerCallContext) -> FlightCall:
        peer = _peer_host(context)
        work = principal_for(self.state, _api_key(context), peer)
        principal = asyncio.run_coroutine_threadsafe(work, self.loop).result()
        return FlightCall(
            principal=principal,
            state=self.state,
            loop=self.loop,
            peer=peer,
            context=context,
            write_lock=self.write_lock,
        )

    @staticmethod
    def _command(data: bytes | None, what: str, kinds: dict[str, Any]) -> tuple[Command, Any]:
        if not data:
            raise InvalidInput(f"The {what} must carry a JSON command.")
        command = parse_command(data, what, kinds)
        handler = kinds.get(command.kind or UNWRAPPED)
        if handler is None:
            known = ", ".join(sorted(k for k in kinds if k != UNWRAPPED)) or "none"
            raise InvalidInput(f"The {what} names no request this server handles (it handles: {known}).")
        return command, handler

    # --- Flight calls ---------------------------------------------------------------------

    def do_put(
        self,
        context: flight.ServerCallContext,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.FlightMetadataWriter,
    ) -> None:
        try:
            call = self._authenticate(context)
            command, handler = self._command(descriptor.command, "DoPut descriptor", self.routes.puts)
            reply = handler(call, command.fields, reader)
            if reply is not None:
                writer.write(pa.py_buffer(reply))
        except Exception as exc:  # noqa: BLE001 - every failure leaves as a Flight status
            raise to_flight(exc) from None

    def do_get(self, context: flight.ServerCallContext, ticket: flight.Ticket) -> flight.FlightDataStream:
        try:
            call = self._authenticate(context)
            command, handler = self._command(ticket.ticket, "DoGet ticket", self.routes.gets)
            stream: flight.FlightDataStream = handler(call, command.fields)
            return stream
        except Exception as exc:  # noqa: BLE001
            raise to_flight(exc) from None

    def do_action(self, context: flight.ServerCallContext, action: flight.Action) -> Iterator[bytes]:
        try:
            call = self._authenticate(context)
            handler = self.routes.actions.get(action.type)
            if handler is None:
                known = ", ".join(sorted(self.routes.actions)) or "none"
                raise InvalidInput(f"Unknown action '{action.type}' (this server handles: {known}).")
            body = action.body.to_pybytes() if action.body is not None else b""
            command = parse_command(body or b"{}", "action body", [action.type])
            return iter(list(handler(call, command.fields)))
        except Exception as exc:  # noqa: BLE001
            raise to_flight(exc) from None

    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        try:
            self._authenticate(context)
        except Exception as exc:  # noqa: BLE001
            raise to_flight(exc) from None
        return sorted(self.routes.action_help.items())

    def get_flight_info(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        try:
            call = self._authenticate(context)
            command, handler = self._command(descriptor.command, "FlightInfo descriptor", self.routes.infos)
            info: flight.FlightInfo = handler(call, command.fields, descriptor)
            return info
        except Exception as exc:  # noqa: BLE001
            raise to_flight(exc) from None

    def list_flights(self, context: flight.ServerCallContext, criteria: bytes) -> Iterator[flight.FlightInfo]:
        return iter(())
