"""Domain errors. They carry no HTTP codes; the API edge maps each kind to one."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a caller can cause; the message is safe to show to users."""

    title = "Invalid request"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidInput(DomainError):
    """The request is malformed: a bad id, an out-of-range value, a bad cursor."""

    title = "Invalid request parameters"


class NotFound(DomainError):
    """The resource does not exist, or the caller cannot see it (the two are indistinguishable)."""

    title = "Resource not found"


class UnknownId(NotFound):
    """An id that names nothing: malformed, of another kind, or never issued. To a caller it is
    the same as an id of something it cannot see (404), since an id is only a string to them."""


class Forbidden(DomainError):
    """The caller can see the resource but their role does not allow this operation."""

    title = "Access forbidden"


class Conflict(DomainError):
    """The request clashes with current state: a duplicate name, an active run."""

    title = "Conflict"


class Unprocessable(DomainError):
    """Well-formed but semantically unacceptable (e.g. an unsupported configuration)."""

    title = "Unprocessable request"


class Unauthenticated(DomainError):
    """No usable credentials were presented."""

    title = "Authentication required"
