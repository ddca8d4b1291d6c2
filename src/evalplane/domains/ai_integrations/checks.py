"""Validation of AI integration settings: each field alone, then the combination."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from evalplane.core.egress import EgressPolicy, EgressRefused
from evalplane.core.errors import InvalidInput, Unprocessable
from evalplane.db.models import AiIntegration

PROVIDERS = (
    "OPEN_AI",
    "AZURE_OPEN_AI",
    "AWS_BEDROCK",
    "VERTEX_AI",
    "ANTHROPIC",
    "CUSTOM",
    "NVIDIA_NIM",
    "GEMINI",
    "LITELLM",
    "FIREWORKS",
    "TOGETHER_AI",
)
AUTH_TYPES = ("DEFAULT", "PROXY_WITH_HEADERS", "BEARER_TOKEN")
# Providers reached only through a URL the user runs or chooses.
NEEDS_BASE_URL = ("CUSTOM", "LITELLM")
# Which provider_metadata kind belongs to which provider.
METADATA_KIND = {"AWS_BEDROCK": "AWS", "VERTEX_AI": "GCP"}
MAX_HEADER_BYTES = 8175


def enum(value: Any, allowed: tuple[str, ...], name: str) -> str:
    if not isinstance(value, str) or value.strip().upper() not in allowed:
        raise InvalidInput(f"'{name}' must be one of: {', '.join(allowed)}.", field=name)
    return value.strip().upper()


def clean_base_url(url: str | None) -> str | None:
    if url is None:
        return None
    url = url.strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2048:
        raise InvalidInput("'base_url' must be an absolute http(s) URL.", field="base_url")
    return url


async def check_reachable(url: str | None, policy: EgressPolicy) -> None:
    """Refuse a base_url this server may not call (loopback, private, metadata…) unless the
    operator allows it; a name that does not resolve now is accepted and checked at each call."""
    if url is None:
        return
    try:
        await policy.check_url(url)
    except EgressRefused as exc:
        raise Unprocessable(
            f"'base_url' may not be used: {exc.reason}. The server operator can allow it in EVALPLANE_EGRESS_ALLOW.",
            field="base_url",
        ) from None


def clean_headers(headers: dict[str, str] | None) -> dict[str, str] | None:
    if headers is None:
        return None
    for key in headers:
        if not key or any(c.isspace() or c in ':()<>@,;\\"/[]?={}' for c in key) or not key.isascii():
            raise InvalidInput(f"'headers' has an invalid header name: {key!r}.", field="headers")
        if "\n" in headers[key] or "\r" in headers[key]:
            raise InvalidInput(f"'headers' value for {key!r} must not contain line breaks.", field="headers")
    if len(json.dumps(headers).encode()) > MAX_HEADER_BYTES:
        raise InvalidInput(f"'headers' must serialize to at most {MAX_HEADER_BYTES} bytes.", field="headers")
    return dict(headers)


def clean_model_names(names: list[str] | None) -> list[str] | None:
    if names is None:
        return None
    cleaned: list[str] = []
    for name in names:
        name = name.strip()
        if not name:
            raise InvalidInput("'model_names' must not contain empty names.", field="model_names")
        if name not in cleaned:
            cleaned.append(name)
    return cleaned


def clean_metadata(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
    """Normalize provider metadata to ``{"kind": "AWS"|"GCP", ...}`` with required fields present."""
    if metadata is None:
        return None
    kind = enum(metadata.get("kind"), ("AWS", "GCP"), "provider_metadata.kind")
    required = ("role_arn",) if kind == "AWS" else ("project_id", "location", "project_access_label")
    optional = ("external_id",) if kind == "AWS" else ()
    out: dict[str, Any] = {"kind": kind}
    for key in required:
        value = metadata.get(key)
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"'provider_metadata.{key}' is required for kind {kind}.", field="provider_metadata")
        out[key] = value.strip()
    for key in optional:
        if metadata.get(key) is not None:
            out[key] = metadata[key]
    unknown = set(metadata) - {"kind", *required, *optional}
    if unknown:
        raise InvalidInput(
            f"'provider_metadata' has fields not used by kind {kind}: {', '.join(sorted(unknown))}.",
            field="provider_metadata",
        )
    return out


def check_consistency(row: AiIntegration) -> None:
    """Rules that involve several fields, checked on the final state after create or update."""
    if row.provider in NEEDS_BASE_URL and not row.base_url:
        raise InvalidInput(f"Provider {row.provider} needs a 'base_url'.", field="base_url")
    metadata = row.provider_metadata
    expected_kind = METADATA_KIND.get(row.provider)
    if metadata is not None and metadata.get("kind") != expected_kind:
        raise InvalidInput(
            f"'provider_metadata' of kind {metadata.get('kind')} does not fit provider {row.provider}.",
            field="provider_metadata",
        )
    if row.provider == "VERTEX_AI" and metadata is None:
        raise InvalidInput("Provider VERTEX_AI needs 'provider_metadata' of kind GCP.", field="provider_metadata")
    if row.provider == "AWS_BEDROCK" and row.auth_type == "DEFAULT" and metadata is None:
        raise InvalidInput(
            "Provider AWS_BEDROCK with auth_type DEFAULT needs 'provider_metadata' of kind AWS (role_arn).",
            field="provider_metadata",
        )
