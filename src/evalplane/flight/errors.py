"""Domain errors as Flight errors, with the gRPC status a client can act on.

pyarrow gives Python servers clean statuses only through its Flight error classes
(UNAUTHENTICATED, PERMISSION_DENIED, UNAVAILABLE, INTERNAL). INVALID_ARGUMENT and NOT_FOUND
come from ``ArrowInvalid`` and ``ArrowKeyError``; pyarrow appends the raising frame to their
message, so they are raised from here, where that frame says nothing about the request.
"""

from __future__ import annotations

import logging

import pyarrow as pa
from pyarrow import flight
from sqlalchemy.exc import IntegrityError

from evalplane.api.deps import RateLimited
from evalplane.core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
    Unprocessable,
)

log = logging.getLogger("evalplane.flight")


class NotFoundError(pa.ArrowKeyError):
    """NOT_FOUND, with the message as written (a plain KeyError would quote it)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class InvalidArgumentError(pa.ArrowInvalid):
    """INVALID_ARGUMENT: the request (its command, schema or data) cannot be accepted."""


def to_flight(error: BaseException) -> BaseException:
    """The Flight error a client should see for ``error``."""
    if isinstance(error, flight.FlightError | InvalidArgumentError | NotFoundError):
        return error
    if isinstance(error, Unauthenticated):
        return flight.FlightUnauthenticatedError(error.detail)
    if isinstance(error, Forbidden):
        return flight.FlightUnauthorizedError(error.detail)
    if isinstance(error, NotFound):
        return NotFoundError(error.detail)
    if isinstance(error, InvalidInput | Conflict | Unprocessable):
        return InvalidArgumentError(error.detail)
    if isinstance(error, RateLimited):
        return flight.FlightUnavailableError(error.detail)
    if isinstance(error, DomainError):
        return InvalidArgumentError(error.detail)
    if isinstance(error, IntegrityError):
        # A uniqueness race lost to a concurrent writer: the same outcome as the pre-check.
        return InvalidArgumentError("The request conflicts with an existing resource (written at the same time).")
    if isinstance(error, pa.ArrowInvalid | pa.ArrowTypeError):
        # Arrow refused the stream itself (a batch that does not match its schema, a bad IPC message).
        return InvalidArgumentError(f"The Arrow stream is not valid: {error}")
    log.exception("Flight call failed", exc_info=error)
    return flight.FlightInternalError("The server failed to handle this call; its log has the details.")
