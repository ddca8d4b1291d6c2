"""Pure-ASGI guards that run before routing: body size and JSON content type on /v2."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evalplane.api.problems import problem

_BODY_METHODS = {"POST", "PUT", "PATCH"}


class BodyGuard:
    """Rejects oversize bodies with 413 and non-JSON bodies on /v2 with 415, before parsing."""

    def __init__(self, app: ASGIApp, max_bytes: int, path_limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = path_limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"]
        max_bytes = self.path_limits.get(path, self.max_bytes)
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            await self._reject(scope, receive, send, 413, f"The request body exceeds {max_bytes} bytes.")
            return
        if path.startswith("/v2/") and (length is None or length != "0"):
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type and not (content_type == "application/json" or content_type.endswith("+json")):
                await self._reject(scope, receive, send, 415, "Send the request body as application/json.")
                return
        received = 0
        too_large = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    too_large = True
                    raise _TooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # The framework may turn the interrupted read into its own error; 413 is the answer.
            if too_large and not started:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            pass
        if too_large and not started:
            await self._reject(scope, receive, send, 413, f"The request body exceeds {max_bytes} bytes.")

    async def _reject(self, scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
        response = problem(status, detail, instance=scope["path"], headers={"Connection": "close"})
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass
