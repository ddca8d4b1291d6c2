"""Anthropic's Messages API through the `anthropic` SDK."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import orjson

from evalplane.core.egress import EgressRefused
from evalplane.engine.providers.base import (
    ChatRequest,
    ChatResult,
    ProviderConfig,
    TransientProviderError,
    Usage,
    ssl_context,
    token_count,
)
from evalplane.engine.providers.egress import guarded_client
from evalplane.engine.providers.error_summary import Redactor, response_body, summary
from evalplane.engine.providers.openai_compat import classify_status, connection_failure

_PASSTHROUGH = {"temperature", "top_p", "top_k", "stop_sequences", "metadata"}


class AnthropicProvider:
    def __init__(self, config: ProviderConfig) -> None:
        self.client = anthropic.AsyncAnthropic(
            api_key=config.api_key or "unused",
            base_url=config.base_url or None,
            default_headers=config.headers or None,
            max_retries=0,
            timeout=config.timeout_seconds,
            http_client=guarded_client(
                config.egress, connections=config.connections, timeout=config.timeout_seconds, tls=ssl_context()
            ),
        )
        self.function_calling = config.function_calling
        self.redact = Redactor([config.api_key, *config.headers.values()])

    async def chat(self, request: ChatRequest) -> ChatResult:
        system = "\n\n".join(str(m.get("content") or "") for m in request.messages if m.get("role") == "system")
        messages = [
            {
                "role": "assistant" if m.get("role") == "assistant" else "user",
                "content": m.get("content") or "",
            }
            for m in request.messages
            if m.get("role") != "system"
        ]
        kwargs: dict[str, Any] = {k: v for k, v in request.params.items() if k in _PASSTHROUGH and v is not None}
        if request.params.get("stop"):
            kwargs["stop_sequences"] = list(request.params["stop"])
        max_tokens = request.params.get("max_tokens") or request.params.get("max_completion_tokens") or 1024
        if system:
            kwargs["system"] = system
        if request.tool is not None and self.function_calling:
            kwargs["tools"] = [
                {
                    "name": request.tool.name,
                    "description": request.tool.description,
                    "input_schema": request.tool.parameters,
                }
            ]
            kwargs["tool_choice"] = {"type": "tool", "name": request.tool.name}
        elif request.tools:
            kwargs["tools"] = [_anthropic_tool(t) for t in request.tools]
        payload = {
            "model": request.model,
            "messages": messages,
            "max_tokens": int(max_tokens),
            **kwargs,
        }
        try:
            # As for OpenAI: the SDK's own request method, without re-typing the body against its
            # parameter types or building response models on every call.
            raw = await self.client.post("/v1/messages", cast_to=bytes, body=payload)
        except anthropic.APIStatusError as exc:
            raise classify_status(
                exc.status_code,
                summary(response_body(exc.response), self.redact),
                exc.response.headers if exc.response else None,
            ) from None
        except anthropic.APITimeoutError:
            raise TransientProviderError("the provider did not answer in time") from None
        except (anthropic.APIConnectionError, EgressRefused) as exc:
            raise connection_failure(exc) from None
        return parse_message(raw, request)

    async def close(self) -> None:
        await self.client.close()


def parse_message(raw: bytes, request: ChatRequest) -> ChatResult:
    """A Messages API answer: its text blocks, the judge tool's input, every tool use, usage."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise TransientProviderError("the provider's answer was not JSON") from None
    blocks = data.get("content") if isinstance(data, dict) else None
    if not isinstance(blocks, list):
        raise TransientProviderError("the provider returned no content")
    text_parts, arguments, calls = [], None, []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            text_parts.append(block["text"])
        elif block.get("type") == "tool_use":
            given = block.get("input")
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": json.dumps(given),
                    },
                }
            )
            if arguments is None and request.tool is not None and block.get("name") == request.tool.name:
                arguments = given if isinstance(given, dict) else None
    usage = data.get("usage")
    return ChatResult(
        text="".join(text_parts) or None,
        tool_arguments=arguments,
        usage=Usage(token_count(usage, "input_tokens"), token_count(usage, "output_tokens")),
        tool_calls=calls or None,
    )


def _anthropic_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI-format function tool as Anthropic expects it (others pass as given)."""
    function = tool.get("function") if tool.get("type") == "function" else None
    if not isinstance(function, dict):
        return tool
    return {
        "name": function.get("name"),
        "description": function.get("description") or "",
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
