"""The optional access log: one line per HTTP request (``EVALPLANE_ACCESS_LOG`` / ``serve
--access-log``, off by default).

A line holds the method, the path (no query string), the status, the time to the end of the
response and the public id of the API key that made the request (``-`` when none was
accepted). Never the key itself, a header or a body. Written to the ``evalplane.access``
logger, as text or, under ``EVALPLANE_LOG_FORMAT=json``, with the same fields as JSON keys.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evalplane.core.ids import Kind, id_encoder

log = logging.getLogger("evalplane.access")
_key_id = id_encoder(Kind.API_KEY)


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # an exception that escapes everything is answered with a 500
        started = time.perf_counter()

        async def noting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        finally:
            millis = (time.perf_counter() - started) * 1000
            number = scope.get("state", {}).get("api_key_id")
            key = _key_id(number) if isinstance(number, int) else "-"
            method, path = scope["method"], scope["path"]
            log.info(
                "%s %s %d %.1fms key=%s",
                method,
                path,
                status,
                millis,
                key,
                extra={
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": round(millis, 1),
                    "key_id": key,
                },
            )
