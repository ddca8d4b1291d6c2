"""The operator's choice to put ``/metrics`` and the API docs behind an API key.

Both are open by default (Prometheus scrapes without credentials, and the docs describe a
public contract); ``EVALPLANE_PUBLIC_METRICS=false`` and ``EVALPLANE_PUBLIC_DOCS=false``
make them answer only requests with a valid key, like ``/v2``. ``/healthz`` and ``/readyz``
always stay open for probes.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from evalplane.api.deps import RateLimited, bearer_token, client_address, principal_for
from evalplane.api.problems import problem
from evalplane.core.errors import Unauthenticated
from evalplane.settings import Settings

METRICS_PATHS = frozenset({"/metrics"})
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


def protected_paths(settings: Settings) -> frozenset[str]:
    paths: frozenset[str] = frozenset()
    if not settings.public_metrics:
        paths |= METRICS_PATHS
    if not settings.public_docs:
        paths |= DOCS_PATHS
    return paths


class KeyRequired:
    """Answers 401 (or 429) on ``paths`` unless the request carries a valid API key."""

    def __init__(self, app: ASGIApp, paths: frozenset[str]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            await principal_for(scope["app"].state.evalplane, bearer_token(request), client_address(request))
        except RateLimited as exc:
            refusal = problem(429, exc.detail, instance=scope["path"], headers={"Retry-After": str(exc.retry_after)})
        except Unauthenticated as exc:
            refusal = problem(401, exc.detail, instance=scope["path"], headers={"WWW-Authenticate": "Bearer"})
        else:
            await self.app(scope, receive, send)
            return
        await refusal(scope, receive, send)
