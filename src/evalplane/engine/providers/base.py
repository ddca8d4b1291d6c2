"""The provider interface and its error taxonomy.

Errors come in two kinds, because the engine treats them differently: a transient error
(rate limit, overload, timeout, 5xx) is retried after a pause and never counts against a
unit's attempts; a fatal one (bad credentials, unknown model, a request the provider
rejects) stops the run at once with a reason the user can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from evalplane.core.egress import EgressPolicy


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """What the engine knows about an AI integration, with its key already decrypted."""

    provider: str
    api_key: str | None = None
    base_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    function_calling: bool = True
    timeout_seconds: float = 60.0
    integration_id: int | None = None
    # HTTP connections kept open to the provider; at least the engine's concurrency per
    # integration, so calls never queue for a connection or reconnect after a burst.
    connections: int = 128
    # Where calls may connect; the default refuses loopback, private and metadata addresses.
    egress: EgressPolicy = field(default_factory=EgressPolicy)


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One function the model is asked to call, with a JSON-schema for its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    tool: ToolSpec | None = None
    # Caller-defined tools (OpenAI function format) offered as they are, for generation.
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class ChatResult:
    text: str | None
    tool_arguments: dict[str, Any] | None
    usage: Usage
    # Every tool call the model made, OpenAI-shaped: {"id", "type", "function": {"name", "arguments"}}.
    tool_calls: list[dict[str, Any]] | None = None


class ProviderError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientProviderError(ProviderError):
    """Worth retrying later; ``retry_after`` is the provider's own hint in seconds."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class FatalProviderError(ProviderError):
    """Retrying cannot help: the run should fail with this reason."""


class RequestRejected(FatalProviderError):
    """The provider refused this one request (400/413/422), not the integration itself:
    generation records it on the one example; judges still treat it as fatal."""


class Provider(Protocol):
    async def chat(self, request: ChatRequest) -> ChatResult: ...

    async def close(self) -> None: ...


def retry_after_seconds(headers: Any) -> float | None:
    """Read ``Retry-After`` (seconds or HTTP date) or ``retry-after-ms`` from response headers."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from datetime import UTC, datetime
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            return None


def token_count(usage: Any, key: str) -> int:
    """A token count from a provider's ``usage`` object; 0 when absent or not an integer."""
    value = usage.get(key) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def ssl_context() -> Any:
    """A TLS context verifying with the CA bundle the SDKs use (certifi), as they would."""
    import ssl

    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover
        return ssl.create_default_context()
