"""The judge for the engine benchmark: tests/llm_server.py served by several forked processes
sharing one listening socket (the kernel spreads connections), with a fixed latency; and a
light load probe that measures the judge's own ceiling.

    python bench/engine_judge.py serve --port 8901 --latency-ms 200 --processes 2
    python bench/engine_judge.py probe --port 8901 --connections 256 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _serve_one(sock: socket.socket, latency_ms: int) -> None:
    sys.path.insert(0, str(ROOT))
    import uvicorn

    from tests import llm_server

    llm_server.state["latency_ms"] = latency_ms
    config = uvicorn.Config(
        llm_server.app,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        backlog=4096,
        timeout_keep_alive=60,
    )
    uvicorn.Server(config).run(sockets=[sock])


def serve(port: int, latency_ms: int, processes: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(4096)
    sock.set_inheritable(True)
    children = [
        multiprocessing.Process(target=_serve_one, args=(sock, latency_ms), daemon=True) for _ in range(processes)
    ]
    for child in children:
        child.start()

    def stop(*_: object) -> None:
        for child in children:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    try:
        for child in children:
            child.join()
    except KeyboardInterrupt:
        pass


_BODY = json.dumps(
    {
        "model": "judge-1",
        "messages": [{"role": "user", "content": "Question: what is 2+2?\nAnswer: 4\nIs the answer correct?"}],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "record_evaluation",
                    "parameters": {
                        "type": "object",
                        "properties": {"label": {"type": "string", "enum": ["correct", "incorrect"]}},
                    },
                },
            }
        ],
    }
).encode()


async def _probe(port: int, connections: int, seconds: float) -> dict[str, float]:
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer sk-bench\r\nContent-Length: {len(_BODY)}\r\n\r\n"
    ).encode() + _BODY
    done = 0
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            if b" 200 " in head.split(b"\r\n", 1)[0]:
                done += 1
            else:
                errors += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return {"rps": done / elapsed, "errors": errors, "connections": connections}


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--latency-ms", type=int, default=200)
    s.add_argument("--processes", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    p = sub.add_parser("probe")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--connections", type=int, default=256)
    p.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.port, args.latency_ms, args.processes)
    else:
        print(json.dumps(asyncio.run(_probe(args.port, args.connections, args.seconds))))


if __name__ == "__main__":
    main()
