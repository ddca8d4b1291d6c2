"""Every error leaves the server as RFC 9457 ``application/problem+json``."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from evalplane.core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
    Unprocessable,
)

log = logging.getLogger("evalplane.api")

PROBLEM_TYPES = "https://evalplane.dev/problems/"

_STATUS = {
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Unprocessable: 422,
}
_TITLES = {
    400: "Invalid request parameters",
    401: "Authentication required",
    403: "Access forbidden",
    404: "Resource not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Unprocessable request",
    429: "Rate limit exceeded",
    500: "Internal server error",
}
_SLUGS = {
    400: "invalid-request",
    401: "authentication-required",
    403: "access-forbidden",
    404: "resource-not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "unprocessable",
    429: "rate-limit-exceeded",
    500: "internal-error",
}


def problem(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPES + _SLUGS.get(status, "error"),
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if instance:
        # Callers pass the decoded path; the wire wants a URI reference, so re-encode it.
        body["instance"] = quote(instance, safe="/!$&'()*+,;=:@")
    return Response(
        content=orjson.dumps(body),
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )


def status_for(error: DomainError) -> int:
    for cls, status in _STATUS.items():
        if isinstance(error, cls):
            return status
    return 400


def _describe_validation(errors: list[Any]) -> str:
    parts = []
    for error in errors[:10]:
        location = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "header")]
        where = ".".join(location) or "request"
        message = error.get("msg", "is invalid")
        if error.get("type") == "json_invalid":
            return "The request body is not valid JSON."
        if error.get("type") == "extra_forbidden":
            message = "is not a recognised field"
        parts.append(f"'{where}': {message}")
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    return "; ".join(parts) + more


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        status = status_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return problem(status, exc.detail, instance=request.url.path, title=exc.title, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return problem(400, _describe_validation(list(exc.errors())), instance=request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if isinstance(exc.__cause__, RecursionError):  # FastAPI's own body parse gave up
            detail = "The request body is nested too deeply."
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No endpoint at {request.method} {request.url.path}."
        return problem(exc.status_code, detail, instance=request.url.path, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "The server failed to handle this request; it has been logged.", instance=request.url.path)
