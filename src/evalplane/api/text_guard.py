"""Input the databases cannot store, or that could not be served back once stored: NUL
characters (PostgreSQL rejects them in text and JSONB), non-finite numbers and integers beyond
64 bits (JSON columns and the response encoder reject them), lone surrogates such as
``"\ud800"`` (not encodable as UTF-8) and nesting deeper than ``MAX_DEPTH`` (the response
encoder stops at 255 levels, and a stored value sits a few levels down in a response).

The app-wide ``guard_request`` dependency checks every JSON body, so such input is a 400, not
a 500; routers need not call anything. A NUL in a list's name filter simply matches nothing.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request

from evalplane.core.errors import InvalidInput

_INT64 = 2**63
MAX_DEPTH = 64


def _text_problem(value: str, path: str) -> str | None:
    if "\x00" in value:
        return f"'{path}' must not contain NUL characters."
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"'{path}' holds a lone surrogate (such as \\ud800), which is not valid Unicode text."
    return None


def problem_in(value: Any, path: str = "request", depth: int = 0) -> str | None:
    """Describe the first unstorable value inside ``value``, or None if it is all storable."""
    if isinstance(value, str):
        return _text_problem(value, path)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return None if -_INT64 <= value < _INT64 else f"'{path}' is out of range (64-bit integers only)."
    if isinstance(value, float):
        return None if math.isfinite(value) else f"'{path}' must be a finite number."
    if isinstance(value, (dict, list, tuple)) and depth >= MAX_DEPTH:
        return f"'{path}' is nested too deeply (at most {MAX_DEPTH} levels of objects and arrays)."
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path != "request" else str(key)
            found = problem_in(key, path, depth) or problem_in(item, child, depth + 1)
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = problem_in(item, f"{path}[{index}]", depth + 1)
            if found:
                return found
    return None


def ensure_storable(value: Any, path: str = "request") -> None:
    found = problem_in(value, path)
    if found:
        raise InvalidInput(found)


def _reject_constant(name: str) -> Any:
    raise InvalidInput(f"The request body contains {name}, which is not a JSON number.")


async def guard_request(request: Request) -> None:
    """App-wide dependency: JSON bodies holding unstorable values are a 400 on every route.

    (A NUL in a query filter is valid text that simply matches nothing; list filters handle it.)
    """
    if request.method not in ("POST", "PUT", "PATCH") or not request.url.path.startswith("/v2/"):
        return
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and not (content_type == "application/json" or content_type.endswith("+json")):
        return
    body = await request.body()
    if not body:
        return
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        # body-less routes too: the body is parsed here before any key is checked
        raise InvalidInput(f"The request body is nested too deeply (at most {MAX_DEPTH} levels).") from None
    except (ValueError, UnicodeDecodeError):
        return  # FastAPI reports malformed JSON itself
    ensure_storable(data)
