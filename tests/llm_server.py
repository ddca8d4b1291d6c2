"""A local stand-in for paid LLM providers, speaking the real wire protocols.

The `openai` and `anthropic` SDKs talk to it unchanged:
  POST /v1/chat/completions   OpenAI chat completions (tools, tool_choice, response_format)
  POST /v1/messages           Anthropic messages (tools, tool_choice)
  GET  /v1/models             model list

It judges deterministically: a prompt containing ``[[label:X]]`` gets label X; otherwise the
label is picked from the offered choices by a hash of the prompt. Faults are injected from
the prompt too, per distinct prompt, so a test can fail exactly the spans it wants:
  ``[[fail:429:2]]``  the first 2 attempts answer 429 with Retry-After: 1
  ``[[fail:500:1]]``  the first attempt answers 500
  ``[[hang:1]]``      the first attempt sleeps 30 s (client timeouts)
  ``[[leak:500:html]]`` answers 500 with an HTML page echoing the request's headers and a
                      fake secret, as an internal service might; ``json`` puts the same
                      echo in an OpenAI-shaped error's message instead
  ``[[redirect]]``    answers 307 to the same path on 127.0.0.2 (a redirect a client must not follow)
Requests carrying ``x-test-*`` headers are counted per header and value in ``/_stats``.
Model ``unknown-model`` answers 404 model_not_found; API key ``bad-key`` answers 401.
A ``json_schema`` response format (structured output) is answered with a JSON object
holding the schema's label (and explanation), chosen the same way.
``POST /_control`` sets {"latency_ms": n, "text_only": bool}; ``GET /_stats`` counts calls.

Run: ``python -m tests.llm_server --port 8901``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import time
from collections import Counter
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_LABEL = re.compile(r"\[\[label:([^\]]+)\]\]")
_FAIL = re.compile(r"\[\[fail:(\d{3}):(\d+)\]\]")
_HANG = re.compile(r"\[\[hang:(\d+)\]\]")
_LEAK = re.compile(r"\[\[leak:(\d{3}):(html|json)\]\]")
FAKE_SECRET = "sk-internal-0123456789abcdef"

state: dict[str, Any] = {"latency_ms": 0, "text_only": False}
attempts: Counter[str] = Counter()
stats: Counter[str] = Counter()


def _prompt_text(messages: list[dict[str, Any]]) -> str:
    parts = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(block.get("text", "")) for block in content if isinstance(block, dict))
    return "\n".join(parts)


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


def _choose(prompt: str, choices: list[str]) -> str:
    forced = _LABEL.search(prompt)
    if forced:
        return forced.group(1)
    if not choices:
        return "ok"
    digest = int(hashlib.sha256(prompt.encode()).hexdigest(), 16)
    return choices[digest % len(choices)]


def _leak(status: int, shape: str, request: Request) -> Response:
    echoed = "\n".join(f"{name}: {value}" for name, value in request.headers.items())
    if shape == "json":
        message = f"upstream refused; it saw {echoed} and holds {FAKE_SECRET}"
        return JSONResponse({"error": {"message": message, "type": "upstream_error", "code": "denied"}}, status)
    page = f"<html><body><h1>Internal</h1><pre>{echoed}\ncloud_secret={FAKE_SECRET}</pre></body></html>"
    return Response(page, status, media_type="text/html")


async def _fault(prompt: str, api_key: str | None, model: str, request: Request) -> Response | None:
    stats["requests"] += 1
    for name, value in request.headers.items():
        if name.startswith("x-test-"):
            stats[f"header:{name}={value}"] += 1
    if "[[redirect]]" in prompt:
        stats["redirects"] += 1
        target = str(request.url.replace(hostname="127.0.0.2"))
        return Response(b"", 307, headers={"location": target})
    leak = _LEAK.search(prompt)
    if leak:
        return _leak(int(leak.group(1)), leak.group(2), request)
    if api_key == "bad-key":
        return JSONResponse(
            {
                "error": {
                    "message": "Incorrect API key provided",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            },
            401,
        )
    if model == "unknown-model":
        return JSONResponse(
            {
                "error": {
                    "message": f"The model `{model}` does not exist",
                    "type": "invalid_request_error",
                    "code": "model_not_found",
                }
            },
            404,
        )
    key = hashlib.sha256(prompt.encode()).hexdigest()
    attempts[key] += 1
    hang = _HANG.search(prompt)
    if hang and attempts[key] <= int(hang.group(1)):
        await asyncio.sleep(30)
    fail = _FAIL.search(prompt)
    if fail and attempts[key] <= int(fail.group(2)):
        status = int(fail.group(1))
        stats[f"fault_{status}"] += 1
        headers = {"retry-after": "1"} if status == 429 else {}
        return JSONResponse(
            {"error": {"message": f"injected {status}", "type": "server_error"}}, status, headers=headers
        )
    if state["latency_ms"]:
        await asyncio.sleep(state["latency_ms"] / 1000)
    return None


def _tool_choices(tools: list[dict[str, Any]]) -> tuple[str | None, list[str], bool]:
    """The first tool's name, its label enum and whether it asks for an explanation."""
    if not tools:
        return None, [], False
    tool = tools[0]
    function = tool.get("function", tool)
    schema = function.get("parameters") or function.get("input_schema") or {}
    props = schema.get("properties", {})
    label_prop = next((p for p in props.values() if isinstance(p, dict) and "enum" in p), {})
    return function.get("name"), [str(c) for c in label_prop.get("enum", [])], "explanation" in props


def _arguments(prompt: str, choices: list[str], explain: bool) -> dict[str, Any]:
    label = _choose(prompt, choices)
    args: dict[str, Any] = {"label": label}
    if explain:
        args = {"explanation": f"The response was judged {label}.", **args}
    return args


async def chat_completions(request: Request) -> Response:
    body = await request.json()
    prompt = _prompt_text(body.get("messages", []))
    auth = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    fault = await _fault(prompt, auth, body.get("model", ""), request)
    if fault:
        return fault
    stats["chat_completions"] += 1
    name, choices, explain = _tool_choices(body.get("tools") or [])
    message: dict[str, Any] = {"role": "assistant", "content": None}
    finish = "stop"
    structured = _structured_schema(body.get("response_format"))
    if structured is not None and not name and not state["text_only"]:
        # Structured output: a JSON object with the schema's label (and explanation) fields.
        _, choices, explain = _tool_choices([{"function": {"name": "structured", "parameters": structured}}])
        message["content"] = json.dumps(_arguments(prompt, choices, explain))
        completion_text = message["content"]
    elif name and not state["text_only"]:
        message["tool_calls"] = [
            {
                "id": f"call_{stats['requests']}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(_arguments(prompt, choices, explain))},
            }
        ]
        finish = "tool_calls"
        completion_text = message["tool_calls"][0]["function"]["arguments"]
    else:
        label = _choose(prompt, _labels_in_text(prompt))
        message["content"] = (
            f"EXPLANATION: judged by the local server.\nLABEL: {label}"
            if "LABEL" in prompt
            else f"Echo: {prompt[-200:]}"
        )
        completion_text = message["content"]
    prompt_tokens, completion_tokens = _tokens(prompt), _tokens(completion_text)
    return JSONResponse(
        {
            "id": f"chatcmpl-{stats['requests']}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "local"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


def _structured_schema(response_format: Any) -> dict[str, Any] | None:
    """The JSON schema of an OpenAI ``json_schema`` response format, if one was asked for."""
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return None
    schema = (response_format.get("json_schema") or {}).get("schema")
    return schema if isinstance(schema, dict) else None


def _labels_in_text(prompt: str) -> list[str]:
    match = re.search(r"one of:?\s*([^\n]+)", prompt)
    if not match:
        return []
    return [c.strip(" .'\"") for c in match.group(1).split(",") if c.strip(" .'\"")]


async def messages(request: Request) -> Response:
    body = await request.json()
    prompt = (
        (body.get("system") if isinstance(body.get("system"), str) else "")
        + "\n"
        + _prompt_text(body.get("messages", []))
    )
    fault = await _fault(prompt, request.headers.get("x-api-key"), body.get("model", ""), request)
    if fault:
        return fault
    stats["messages"] += 1
    name, choices, explain = _tool_choices(body.get("tools") or [])
    if name and not state["text_only"]:
        content = [
            {
                "type": "tool_use",
                "id": f"toolu_{stats['requests']}",
                "name": name,
                "input": _arguments(prompt, choices, explain),
            }
        ]
        stop, text = "tool_use", json.dumps(content[0]["input"])
    else:
        text = f"LABEL: {_choose(prompt, _labels_in_text(prompt))}"
        content, stop = [{"type": "text", "text": text}], "end_turn"
    return JSONResponse(
        {
            "id": f"msg_{stats['requests']}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": _tokens(prompt), "output_tokens": _tokens(text)},
        }
    )


async def models(request: Request) -> JSONResponse:
    return JSONResponse(
        {"object": "list", "data": [{"id": "judge-1", "object": "model", "created": 0, "owned_by": "local"}]}
    )


async def control(request: Request) -> JSONResponse:
    state.update(await request.json())
    if state.pop("reset", False):
        attempts.clear()
        stats.clear()
    return JSONResponse(state)


async def get_stats(request: Request) -> JSONResponse:
    return JSONResponse(dict(stats))


app = Starlette(
    routes=[
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/messages", messages, methods=["POST"]),
        Route("/v1/models", models),
        Route("/_control", control, methods=["POST"]),
        Route("/_stats", get_stats),
    ]
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8901)
    parser.add_argument("--latency-ms", type=int, default=0)
    args = parser.parse_args()
    state["latency_ms"] = args.latency_ms
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
