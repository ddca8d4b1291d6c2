"""Every OpenAI-compatible endpoint (OpenAI, Azure OpenAI, custom base URLs, LiteLLM,
Together, Fireworks, NVIDIA NIM, Gemini's OpenAI endpoint) through the `openai` SDK."""

from __future__ import annotations

from typing import Any

import openai
import orjson

from evalplane.core.egress import EgressRefused
from evalplane.engine.providers.base import (
    ChatRequest,
    ChatResult,
    FatalProviderError,
    ProviderConfig,
    RequestRejected,
    TransientProviderError,
    Usage,
    retry_after_seconds,
    ssl_context,
    token_count,
)
from evalplane.engine.providers.egress import guarded_client, refusal_in
from evalplane.engine.providers.error_summary import Redactor, response_body, summary

# Parameters the chat completions endpoint understands; others stay out of the request.
_PASSTHROUGH = {
    "temperature",
    "max_tokens",
    "max_completion_tokens",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "stop",
    "seed",
    "response_format",
    "reasoning_effort",
    "verbosity",
    "logit_bias",
    "n",
    "user",
}


# Connections per SDK client. httpcore walks its whole pool each time a request starts or
# ends, so one pool of 128 connections costs far more CPU per call than eight of 16.
POOL_SHARD = 16


class OpenAICompatible:
    """One integration's calls, spread round-robin over a few SDK clients (kept for the
    integration's lifetime) whose pools together hold ``config.connections`` connections."""

    def __init__(self, config: ProviderConfig) -> None:
        shards = max(1, -(-config.connections // POOL_SHARD))
        per_shard = -(-config.connections // shards)
        tls = ssl_context()  # loading the CA bundle is slow: once per provider, not per client
        self.clients = [self._client(config, per_shard, tls) for _ in range(shards)]
        self.client = self.clients[0]
        self._next = 0
        self.function_calling = config.function_calling
        self.redact = Redactor([config.api_key, *config.headers.values()])

    @staticmethod
    def _client(config: ProviderConfig, connections: int, tls: Any) -> openai.AsyncOpenAI:
        common: dict[str, Any] = {
            "api_key": config.api_key or "unused",
            "max_retries": 0,  # the engine owns retries, so it can honour Retry-After and budgets
            "timeout": config.timeout_seconds,
            "default_headers": config.headers or None,
            "http_client": guarded_client(
                config.egress, connections=connections, timeout=config.timeout_seconds, tls=tls
            ),
        }
        if config.provider == "AZURE_OPEN_AI":
            return openai.AsyncAzureOpenAI(
                azure_endpoint=config.base_url or "",
                api_version=str(config.metadata.get("api_version") or "2024-10-21"),
                **common,
            )
        return openai.AsyncOpenAI(base_url=config.base_url or None, **common)

    async def chat(self, request: ChatRequest) -> ChatResult:
        kwargs: dict[str, Any] = {k: v for k, v in request.params.items() if k in _PASSTHROUGH and v is not None}
        if request.tool is not None and self.function_calling:
            kwargs["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": request.tool.name,
                        "description": request.tool.description,
                        "parameters": request.tool.parameters,
                    },
                }
            ]
            kwargs["tool_choice"] = {
                "type": "function",
                "function": {"name": request.tool.name},
            }
        elif request.tools:
            kwargs["tools"] = request.tools
            if request.tool_choice is not None:
                kwargs["tool_choice"] = request.tool_choice
        client = self.clients[self._next]
        self._next = (self._next + 1) % len(self.clients)
        body = {"model": request.model, "messages": request.messages, **kwargs}
        try:
            # The SDK's own request method (its documented way to send a custom body): auth,
            # headers, Azure deployment routing, timeouts and error classes are the SDK's, but the
            # per-call walk that re-types every message and tool against the SDK's parameter
            # types, and the response models, are skipped (about a quarter of a worker's CPU in a profile).
            raw = await client.post("/chat/completions", cast_to=bytes, body=body)
        except openai.APIStatusError as exc:
            raise classify_status(
                exc.status_code,
                summary(response_body(exc.response), self.redact),
                exc.response.headers if exc.response else None,
            ) from None
        except openai.APITimeoutError:
            raise TransientProviderError("the provider did not answer in time") from None
        except (openai.APIConnectionError, EgressRefused) as exc:
            raise connection_failure(exc) from None
        return parse_completion(raw, request)

    async def close(self) -> None:
        for client in self.clients:
            await client.close()


def parse_completion(raw: bytes, request: ChatRequest) -> ChatResult:
    """The first choice of a chat completion body: its text, the judge tool's arguments,
    every tool call, and token usage."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise TransientProviderError("the provider's answer was not JSON") from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not choices or not isinstance(choices[0], dict):
        raise TransientProviderError("the provider returned no choices")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise TransientProviderError("the provider returned a choice without a message")
    arguments = None
    matched = False
    calls = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        name, text = function.get("name"), function.get("arguments")
        calls.append(
            {
                "id": call.get("id"),
                "type": "function",
                "function": {"name": name, "arguments": text},
            }
        )
        if not matched and request.tool is not None and name == request.tool.name:
            matched = True
            try:
                parsed = orjson.loads(text or "{}")
            except (orjson.JSONDecodeError, TypeError):
                parsed = None
            arguments = parsed if isinstance(parsed, dict) else None
    usage = data.get("usage")
    content = message.get("content")
    return ChatResult(
        text=content if isinstance(content, str) else None,
        tool_arguments=arguments,
        usage=Usage(token_count(usage, "prompt_tokens"), token_count(usage, "completion_tokens")),
        tool_calls=calls or None,
    )


def connection_failure(exc: BaseException) -> Exception:
    """A refused destination is fatal (retrying cannot change the policy); others are transient."""
    refused = refusal_in(exc)
    if refused is not None:
        return FatalProviderError(f"the AI integration's base_url may not be called: {refused.reason}")
    return TransientProviderError("could not reach the provider")


def classify_status(status: int, message: str, headers: Any) -> Exception:
    """Map a provider's HTTP status to the engine's transient/fatal split; ``message`` is
    already a sanitized summary (possibly empty)."""
    message = f": {message}" if message else ""
    if status in (408, 409, 425, 429) or status >= 500:
        return TransientProviderError(f"provider answered {status}{message}", retry_after_seconds(headers))
    if status in (401, 403):
        return FatalProviderError(f"the AI integration's credentials were rejected ({status}){message}")
    if status == 404:
        return FatalProviderError(f"the provider does not know this model or endpoint (404){message}")
    if status in (400, 413, 422):
        return RequestRejected(f"the provider rejected the request ({status}){message}")
    return FatalProviderError(f"the provider rejected the request ({status}){message}")
