"""The one error the filter language raises."""

from __future__ import annotations

from evalplane.core.errors import InvalidInput


class FilterSyntaxError(InvalidInput):
    """A filter that cannot be accepted; ``position`` is the 0-based character offset of the problem."""

    def __init__(self, detail: str, *, position: int, field: str | None = None) -> None:
        super().__init__(detail, field=field)
        self.position = position
