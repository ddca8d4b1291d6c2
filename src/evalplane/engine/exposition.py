"""A minimal HTTP responder for a standalone worker's ``/metrics`` (the worker runs no web app)."""

from __future__ import annotations

import asyncio

from evalplane.core import metrics

_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        request_line = await asyncio.wait_for(reader.readline(), 5)
        while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
            pass  # headers are not needed
        parts = request_line.decode("latin-1").split()
        if len(parts) >= 2 and parts[0] == "GET" and parts[1].split("?")[0] == "/metrics":
            body = metrics.REGISTRY.render().encode()
            head = (
                f"HTTP/1.1 200 OK\r\nContent-Type: {metrics.CONTENT_TYPE}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
        else:
            writer.write(_NOT_FOUND)
        await writer.drain()
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve_metrics(host: str, port: int) -> asyncio.Server:
    return await asyncio.start_server(_answer, host, port)
