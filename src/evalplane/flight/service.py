"""Runs the Flight server inside ``evalplane serve``, beside (not inside) the HTTP API.

Flight calls arrive on gRPC threads. Their database work runs on an event loop of the Flight
server's own, in one thread, with its own connection pool: big uploads never queue behind (or
hold up) the API's event loop, and async connections are only ever used on the loop that
opened them. The API's processes and this one share the database as any two processes do.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass

from pyarrow import flight

from evalplane.api.app import start as open_state
from evalplane.api.state import AppState
from evalplane.flight.registry import collect
from evalplane.flight.server import EvalplaneFlightServer
from evalplane.settings import Settings

log = logging.getLogger("evalplane.flight")


@dataclass
class FlightService:
    server: EvalplaneFlightServer
    state: AppState
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    location: str

    @property
    def port(self) -> int:
        return int(self.server.port)

    @classmethod
    def start(cls, settings: Settings) -> FlightService:
        """Open the database (migrating and bootstrapping it if needed) and start listening."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="evalplane-flight-loop", daemon=True)
        thread.start()
        try:
            state = asyncio.run_coroutine_threadsafe(open_state(settings), loop).result()
        except BaseException:
            _stop_loop(loop, thread)
            raise
        host = settings.flight_host or settings.host
        tls = settings.flight_tls()
        scheme = "grpc+tls" if tls else "grpc+tcp"
        bind = f"{scheme}://{_bracketed(host)}:{settings.flight_port}"
        try:
            certificates = [flight.CertKeyPair(cert=tls[0], key=tls[1])] if tls else None
            server = EvalplaneFlightServer(bind, state, loop, collect(), tls_certificates=certificates)
        except BaseException:
            asyncio.run_coroutine_threadsafe(state.db.dispose(), loop).result()
            _stop_loop(loop, thread)
            raise
        location = f"{'grpc+tls' if tls else 'grpc'}://{_bracketed(host)}:{server.port}"
        return cls(server=server, state=state, loop=loop, thread=thread, location=location)

    def stop(self) -> None:
        """Stop accepting calls, let those in flight finish, and close the database pool."""
        self.server.shutdown()
        try:
            asyncio.run_coroutine_threadsafe(self.state.db.dispose(), self.loop).result(timeout=10)
        finally:
            _stop_loop(self.loop, self.thread)


def _stop_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    if not thread.is_alive():
        loop.close()


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
