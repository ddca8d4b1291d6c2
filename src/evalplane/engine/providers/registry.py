"""Picks the provider implementation for an AI integration."""

from __future__ import annotations

from dataclasses import replace

from evalplane.engine.providers.base import FatalProviderError, Provider, ProviderConfig

# Providers served by the OpenAI-compatible client. Default base URLs fill in when the
# integration does not set one.
OPENAI_COMPATIBLE = {
    "OPEN_AI": None,
    "AZURE_OPEN_AI": None,
    "CUSTOM": None,
    "LITELLM": None,
    "TOGETHER_AI": "https://api.together.xyz/v1",
    "FIREWORKS": "https://api.fireworks.ai/inference/v1",
    "NVIDIA_NIM": "https://integrate.api.nvidia.com/v1",
    "GEMINI": "https://generativelanguage.googleapis.com/v1beta/openai/",
}


def build_provider(config: ProviderConfig) -> Provider:
    kind = config.provider.upper()
    if kind in OPENAI_COMPATIBLE:
        from evalplane.engine.providers.openai_compat import OpenAICompatible

        if config.base_url is None and OPENAI_COMPATIBLE[kind]:
            config = replace(config, base_url=OPENAI_COMPATIBLE[kind])
        if kind in ("CUSTOM", "LITELLM", "AZURE_OPEN_AI") and not config.base_url:
            raise FatalProviderError(f"the {kind} AI integration needs a base_url")
        return OpenAICompatible(config)
    if kind == "ANTHROPIC":
        from evalplane.engine.providers.anthropic_provider import AnthropicProvider

        return AnthropicProvider(config)
    raise FatalProviderError(
        f"provider {kind} is not supported by this server yet; use an OpenAI-compatible endpoint "
        "(for example through a LiteLLM proxy) or Anthropic"
    )
