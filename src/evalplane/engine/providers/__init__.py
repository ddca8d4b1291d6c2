"""LLM providers behind one small interface, built on the providers' official SDKs."""

from evalplane.engine.providers.base import (
    ChatRequest,
    ChatResult,
    FatalProviderError,
    Provider,
    ProviderConfig,
    RequestRejected,
    ToolSpec,
    TransientProviderError,
    Usage,
)
from evalplane.engine.providers.registry import build_provider

__all__ = [
    "ChatRequest",
    "ChatResult",
    "FatalProviderError",
    "Provider",
    "ProviderConfig",
    "RequestRejected",
    "ToolSpec",
    "TransientProviderError",
    "Usage",
    "build_provider",
]
