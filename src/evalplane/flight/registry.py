"""The handler interface of the Flight server: what a route module registers and receives.

A route module in :mod:`evalplane.flight.routes` exposes ``routes = Routes()`` and registers
handlers on it by *kind*:

* ``put(kind)``: DoPut whose descriptor command is ``{"<kind>": {...}}`` (the SDK's
  ``DoPutRequest`` oneof: ``create_dataset``, ``post_experiment_data``,
  ``write_span_evaluation_request``...). The handler gets the fields and the stream reader,
  and returns the reply message (bytes) sent back as the put result, or None.
* ``get(kind)``: DoGet whose ticket is ``{"<kind>": {...}}`` (``get_dataset``,
  ``get_experiment``, or a ticket a ``info`` handler issued). Returns a
  ``flight.FlightDataStream`` (``GeneratorStream`` for streamed results).
* ``action(kind)``: DoAction of that type; the body is either ``{"<kind>": {...}}`` or the
  fields themselves. Returns the reply messages (bytes).
* ``info(kind)``: GetFlightInfo whose descriptor command is ``{"<kind>": {...}}``. Returns a
  ``flight.FlightInfo``.

Kinds are snake_case; a command whose single key is not a registered kind (or that has
several keys) reaches the handler registered under :data:`UNWRAPPED` for that call, if any.
Every call is authenticated before its handler runs. Handlers run on Flight's threads: they
use :meth:`FlightCall.run` for database work, which runs a coroutine on the Flight event loop
(never the API's) and waits for it. Raise domain errors (``InvalidInput``, ``NotFound``,
``Forbidden``...); the server turns them into Flight statuses.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pyarrow as pa
from pyarrow import flight
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.api.state import AppState
from evalplane.core.errors import InvalidInput
from evalplane.domains.access.principal import Principal
from evalplane.flight.errors import to_flight
from evalplane.flight.protocol import Fields

T = TypeVar("T")

UNWRAPPED = "*"

PutHandler = Callable[["FlightCall", Fields, flight.MetadataRecordBatchReader], bytes | None]
GetHandler = Callable[["FlightCall", Fields], flight.FlightDataStream]
ActionHandler = Callable[["FlightCall", Fields], Iterable[bytes]]
InfoHandler = Callable[["FlightCall", Fields, flight.FlightDescriptor], flight.FlightInfo]


@dataclass(frozen=True, slots=True)
class FlightCall:
    """One authenticated Flight call, as a handler sees it."""

    principal: Principal
    state: AppState
    loop: asyncio.AbstractEventLoop
    peer: str | None = None
    context: flight.ServerCallContext | None = None
    # Held around bulk transactions where the database has one writer at a time (SQLite), so
    # concurrent uploads queue here instead of timing out on the database's lock.
    write_lock: threading.Lock | None = None

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the Flight event loop and wait for its result (or its error)."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result()

    def ensure_live(self) -> None:
        """Raise if the client has gone (cancelled, disconnected, past its deadline). gRPC ends
        such a stream as if it were complete, so an upload checks this before storing anything."""
        if self.context is not None and self.context.is_cancelled():
            raise InvalidInput("The stream was cut off before the client finished it; nothing was stored.")

    @contextmanager
    def unit_of_work(self) -> Iterator[AsyncSession]:
        """One transaction across several :meth:`run` calls (a streamed upload writes batch by
        batch into it): committed when the block ends, rolled back if it raises."""
        with self.write_lock or nullcontext():
            manager = self.state.db.session()
            session = self.run(manager.__aenter__())
            try:
                yield session
                self.ensure_live()
            except BaseException as exc:
                self.run(manager.__aexit__(type(exc), exc, exc.__traceback__))
                raise
            self.run(manager.__aexit__(None, None, None))


@dataclass
class Routes:
    """Handlers by call type and kind; the server merges every route module's table."""

    puts: dict[str, PutHandler] = field(default_factory=dict)
    gets: dict[str, GetHandler] = field(default_factory=dict)
    actions: dict[str, ActionHandler] = field(default_factory=dict)
    infos: dict[str, InfoHandler] = field(default_factory=dict)
    # One-line descriptions of the actions, for ListActions.
    action_help: dict[str, str] = field(default_factory=dict)

    def put(self, kind: str) -> Callable[[PutHandler], PutHandler]:
        return _register(self.puts, kind)

    def get(self, kind: str) -> Callable[[GetHandler], GetHandler]:
        return _register(self.gets, kind)

    def action(self, kind: str, description: str = "") -> Callable[[ActionHandler], ActionHandler]:
        self.action_help[kind] = description
        return _register(self.actions, kind)

    def info(self, kind: str) -> Callable[[InfoHandler], InfoHandler]:
        return _register(self.infos, kind)

    def merge(self, other: Routes, origin: str) -> None:
        tables: list[tuple[dict[str, Any], dict[str, Any]]] = [
            (self.puts, other.puts),
            (self.gets, other.gets),
            (self.actions, other.actions),
            (self.infos, other.infos),
        ]
        for mine, theirs in tables:
            clash = set(mine) & set(theirs)
            if clash:
                raise RuntimeError(f"Flight routes in {origin} register kinds already taken: {sorted(clash)}")
            mine.update(theirs)
        self.action_help.update(other.action_help)


def record_stream(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> flight.GeneratorStream:
    """A DoGet result that sends ``batches`` as they are produced; an error raised while
    producing them reaches the client as a Flight status, like one raised before."""
    return flight.GeneratorStream(schema, _guarded(batches))


def _guarded(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    try:
        yield from batches
    except Exception as exc:  # noqa: BLE001 - every failure leaves as a Flight status
        raise to_flight(exc) from None


def _register(table: dict[str, Any], kind: str) -> Callable[[Any], Any]:
    def add(handler: Any) -> Any:
        if kind in table:
            raise RuntimeError(f"Flight kind '{kind}' is registered twice")
        table[kind] = handler
        return handler

    return add


def collect() -> Routes:
    """Every route module's handlers, merged (a kind registered twice is an error)."""
    import importlib
    import pkgutil

    from evalplane.flight import routes as package

    merged = Routes()
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        table = getattr(module, "routes", None)
        if isinstance(table, Routes):
            merged.merge(table, module.__name__)
    return merged
