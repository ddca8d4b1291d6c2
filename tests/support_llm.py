"""A local OpenAI-compatible model server for tests: a real HTTP process on a loopback port.

The ``openai`` SDK talks to it unchanged (``base_url=llm.base_url``). It answers
``POST /v1/chat/completions`` with a deterministic reply and token usage, and
``GET /v1/models``. Replies are chosen by ``reply_for`` from the request; tests that need
other behaviour can put canned replies in a JSON file (``replies``: a list of
``{"contains": text, "content": text, "status": int}``, first match wins) and every request
is appended to ``requests.jsonl`` in the server's folder for assertions.

Run standalone: ``python -m tests.support_llm --port 8900 [--dir DIR]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import httpx

MODEL = "evalplane-test-model"


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def reply_for(body: dict[str, Any], replies: list[dict[str, Any]]) -> tuple[int, str]:
    """(HTTP status, reply text) for a chat request: a matching canned reply, else an echo."""
    messages = body.get("messages") or []
    prompt = "\n".join(_message_text(m) for m in messages if isinstance(m, dict))
    for canned in replies:
        if canned.get("contains", "") in prompt:
            return int(canned.get("status", 200)), str(canned.get("content", ""))
    last = _message_text(messages[-1]) if messages else ""
    return 200, f"echo: {last}"


def completion(body: dict[str, Any], content: str, counter: int) -> dict[str, Any]:
    prompt = "\n".join(_message_text(m) for m in body.get("messages") or [] if isinstance(m, dict))
    prompt_tokens, completion_tokens = _tokens(prompt), _tokens(content)
    return {
        "id": f"chatcmpl-test-{counter}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or MODEL,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop", "logprobs": None}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class _Handler(BaseHTTPRequestHandler):
    server: _LlmHttpServer  # type: ignore[assignment]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "test"}]})
        else:
            self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._send(400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
            return
        self.server.record(self.path, dict(self.headers), body)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return
        status, content = reply_for(body, self.server.replies())
        if status != 200:
            self._send(status, {"error": {"message": content or "error", "type": "server_error"}})
            return
        self._send(200, completion(body, content, self.server.next_id()))


class _LlmHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, folder: Path) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.folder = folder
        self.counter = 0

    def replies(self) -> list[dict[str, Any]]:
        path = self.folder / "replies.json"
        return json.loads(path.read_text()).get("replies", []) if path.exists() else []

    def next_id(self) -> int:
        self.counter += 1
        return self.counter

    def record(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> None:
        with open(self.folder / "requests.jsonl", "a") as handle:
            handle.write(json.dumps({"path": path, "headers": headers, "body": body}) + "\n")


@dataclass
class LlmServer:
    """The model server as a subprocess; use as a context manager or start()/stop()."""

    folder: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 15.0) -> LlmServer:
        from tests.support import free_port

        self.port = self.port or free_port()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support_llm", "--port", str(self.port), "--dir", str(self.folder)],
            cwd=Path(__file__).resolve().parent.parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/models", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("the test model server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def set_replies(self, replies: list[dict[str, Any]]) -> None:
        (self.folder / "replies.json").write_text(json.dumps({"replies": replies}))

    def requests(self) -> list[dict[str, Any]]:
        path = self.folder / "requests.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, default=Path("."))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    _LlmHttpServer(args.port, args.dir).serve_forever()


if __name__ == "__main__":
    main()
