"""Request dependencies: the app state, the caller, the dialect, and the unit of work."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from evalplane.api import dialect as wire_dialect
from evalplane.api.state import AppState
from evalplane.core.errors import DomainError, Unauthenticated
from evalplane.domains.access import service as access
from evalplane.domains.access.principal import Principal


class RateLimited(DomainError):
    title = "Rate limit exceeded"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail or f"Too many requests for this API key; retry in {retry_after} s.")
        self.retry_after = retry_after


class TooManyFailedAuthentications(RateLimited):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after, f"Too many failed authentications from this address; retry in {retry_after} s.")


# Dependencies are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a
# worker thread, which costs a thread hop per dependency on every request.
async def app_state(request: Request) -> AppState:
    return request.app.state.evalplane


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "").strip()
    if not header:
        raise Unauthenticated("Authentication is required: send 'Authorization: Bearer <api-key>'.")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    return header


def client_address(request: Request) -> str | None:
    """The caller's address (behind a proxy on this host, uvicorn takes it from X-Forwarded-For)."""
    return request.client.host if request.client else None


async def current_principal(request: Request, state: Annotated[AppState, Depends(app_state)]) -> Principal:
    return note_caller(request, await principal_for(state, bearer_token(request), client_address(request)))


def note_caller(request: Request, principal: Principal) -> Principal:
    """Remember which key made the request, for the access log (the id only, never the key)."""
    request.state.api_key_id = principal.api_key_id
    return principal


async def principal_for(state: AppState, token: str, client: str | None = None) -> Principal:
    """The key's principal (cached briefly), rate-limited per key, last use noted now and then.

    An address that failed to authenticate too often is refused outright for a while, good
    key or not, so that guessing keys from it answers nothing.
    """
    wait = state.auth_failures.retry_after(client)
    if wait is not None:
        raise TooManyFailedAuthentications(wait)
    token_hash = access.hash_token(token)
    principal = state.principals.get(token_hash)
    if principal is None:
        try:
            async with state.db.session() as session:
                principal = await access.authenticate(session, token)
        except Unauthenticated:
            state.auth_failures.record(client)
            raise
        state.principals.put(token_hash, principal)
    if principal.api_key_id is not None:
        wait = state.limiter.retry_after(principal.api_key_id)
        if wait is not None:
            raise RateLimited(wait)
        if state.key_usage.due(principal.api_key_id):
            async with state.db.session() as session:
                await access.touch_key(session, principal.api_key_id)
    return principal


async def current_dialect(request: Request, state: Annotated[AppState, Depends(app_state)]) -> wire_dialect.Dialect:
    return wire_dialect.choose(request, state.settings.api_dialect == "current")


State = Annotated[AppState, Depends(app_state)]
Caller = Annotated[Principal, Depends(current_principal)]
WireDialect = Annotated[wire_dialect.Dialect, Depends(current_dialect)]
