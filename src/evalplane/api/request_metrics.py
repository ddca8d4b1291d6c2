"""Counts every HTTP request by method, route template and status (pure ASGI, cheap), and
writes the optional access log from the same observation.

The access log (``EVALPLANE_ACCESS_LOG`` / ``serve --access-log``, off by default) has one line
per request: the method, the path (no query string), the status, the time to the end of the
response and the public id of the API key that made the request (``-`` when none was
accepted). Never the key itself, a header or a body. It goes to the ``evalplane.access``
logger, as text or, under ``EVALPLANE_LOG_FORMAT=json``, with the same fields as JSON keys.
This layer is the outermost, so 413s and 401s are counted and logged too.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evalplane.core import metrics
from evalplane.core.ids import Kind, id_encoder

access = logging.getLogger("evalplane.access")
_key_id = id_encoder(Kind.API_KEY)


class RequestMetrics:
    def __init__(self, app: ASGIApp, access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # an exception that escapes everything is answered with a 500
        started = time.perf_counter()

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            seconds = time.perf_counter() - started
            # The route template, not the path: ids in paths would make a series per resource.
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            metrics.HTTP_REQUESTS.inc(method=scope["method"], route=route, status=str(status))
            metrics.HTTP_SECONDS.inc(seconds, route=route)
            if self.access_log:
                _log_access(scope, status, seconds * 1000)


def _log_access(scope: Scope, status: int, millis: float) -> None:
    number = scope.get("state", {}).get("api_key_id")
    key = _key_id(number) if isinstance(number, int) else "-"
    method, path = scope["method"], scope["path"]
    access.info(
        "%s %s %d %.1fms key=%s",
        method,
        path,
        status,
        millis,
        key,
        extra={"method": method, "path": path, "status": status, "duration_ms": round(millis, 1), "key_id": key},
    )
