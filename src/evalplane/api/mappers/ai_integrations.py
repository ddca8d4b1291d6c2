"""AI integration wire shapes. The API key and the headers never appear: only whether
each is set (``headers`` is always null, ``has_headers`` tells)."""

from __future__ import annotations

from typing import Any

from evalplane.api.dialect import Dialect
from evalplane.core.clock import isoformat
from evalplane.core.ids import Kind, encode_id
from evalplane.domains.ai_integrations.credentials import has_headers
from evalplane.domains.ai_integrations.service import IntegrationView, Scope


def _opt_id(kind: Kind, value: int | None) -> str | None:
    return None if value is None else encode_id(kind, value)


def scoping(scope: Scope) -> dict[str, Any]:
    return {
        "organization_id": _opt_id(Kind.ORGANIZATION, scope.organization_id),
        "space_id": _opt_id(Kind.SPACE, scope.space_id),
    }


def provider_metadata(metadata: dict[str, Any] | None, dialect: Dialect) -> dict[str, Any] | None:
    if metadata is None:
        return None
    return {**metadata, "kind": dialect.enum(metadata.get("kind"))}


def integration(view: IntegrationView, dialect: Dialect) -> dict[str, Any]:
    row = view.integration
    return {
        "id": encode_id(Kind.AI_INTEGRATION, row.id),
        "name": row.name,
        "provider": dialect.enum(row.provider),
        "has_api_key": row.api_key_encrypted is not None,
        "base_url": row.base_url,
        "model_names": row.model_names,
        "headers": None,
        "has_headers": has_headers(row),
        "enable_default_models": row.enable_default_models,
        "function_calling_enabled": row.function_calling_enabled,
        "auth_type": dialect.enum(row.auth_type),
        "provider_metadata": provider_metadata(row.provider_metadata, dialect),
        "scopings": [scoping(s) for s in view.scopes],
        "created_at": isoformat(row.created_at),
        "updated_at": isoformat(row.updated_at),
        "created_by_user_id": _opt_id(Kind.USER, row.created_by_user_id),
    }
