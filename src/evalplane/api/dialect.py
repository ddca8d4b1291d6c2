"""The two wire dialects: the seed's lower-case shapes, and the current SDK's upper-case shapes.

Input accepts either. Output is chosen per request: the current dialect for clients that
identify as an ``arize`` Python SDK >= 8.40 or as ``@arizeai/ax-client``, or that send
``X-Evalplane-Dialect: current``; otherwise the server default (seed unless configured).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import overload

from fastapi import Request

DIALECT_HEADER = "x-evalplane-dialect"
_VERSION = re.compile(r"^(\d+)\.(\d+)")


@dataclass(frozen=True, slots=True)
class Dialect:
    current: bool

    def enum(self, value: str | None) -> str | None:
        """Render a stored (upper-case) enum value for this dialect."""
        if value is None:
            return None
        return value if self.current else value.lower()


SEED = Dialect(current=False)
CURRENT = Dialect(current=True)


def _is_current_sdk(package: str | None, version: str | None) -> bool:
    if not package:
        return False
    package = package.strip().lower()
    if package in ("@arizeai/ax-client", "ax-client"):
        return True
    if package != "arize" or not version:
        return False
    match = _VERSION.match(version.strip())
    return match is not None and (int(match.group(1)), int(match.group(2))) >= (8, 40)


def choose(request: Request, default_current: bool) -> Dialect:
    asked = request.headers.get(DIALECT_HEADER)
    if asked:
        asked = asked.strip().lower()
        if asked in ("current", "v8", "upper"):
            return CURRENT
        if asked in ("seed", "legacy", "lower"):
            return SEED
    if _is_current_sdk(request.headers.get("sdk-package-name"), request.headers.get("sdk-version")):
        return CURRENT
    return CURRENT if default_current else SEED


@overload
def parse_enum(value: str, allowed: tuple[str, ...], field: str) -> str: ...
@overload
def parse_enum(value: str | None, allowed: tuple[str, ...], field: str) -> str | None: ...
def parse_enum(value: str | None, allowed: tuple[str, ...], field: str) -> str | None:
    """Accept an enum value in any case; return the canonical upper-case form."""
    from evalplane.core.errors import InvalidInput

    if value is None:
        return None
    canonical = value.strip().upper()
    if canonical not in allowed:
        choices = ", ".join(a.lower() for a in allowed)
        raise InvalidInput(f"'{field}' must be one of: {choices} (either case).", field=field)
    return canonical
