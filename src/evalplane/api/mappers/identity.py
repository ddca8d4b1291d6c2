"""Wire shapes of organizations, users, roles, role bindings, memberships and API keys.

These resources exist only in the current API revision, so their enum values are always
upper case (the seed dialect covers task listings only).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from evalplane.core.clock import isoformat
from evalplane.core.errors import InvalidInput
from evalplane.core.ids import Kind, decode_id, encode_id
from evalplane.db.models import ApiKey, Organization, Role, RoleBinding, User
from evalplane.domains.access import permissions

RESOURCE_KINDS = {"SPACE": Kind.SPACE, "PROJECT": Kind.PROJECT}


class RoleAssignment(BaseModel):
    """``{"type": "PREDEFINED", "name": ...}`` or ``{"type": "CUSTOM", "id": ...}``."""

    model_config = ConfigDict(extra="forbid")
    type: str
    name: str | None = None
    id: str | None = None

    def kind(self, field: str) -> str:
        kind = self.type.strip().upper()
        if kind not in ("PREDEFINED", "CUSTOM"):
            raise InvalidInput(f"'{field}.type' must be PREDEFINED or CUSTOM.", field=f"{field}.type")
        if kind == "PREDEFINED" and not self.name:
            raise InvalidInput(f"A PREDEFINED '{field}' needs a 'name'.", field=f"{field}.name")
        if kind == "CUSTOM" and not self.id:
            raise InvalidInput(f"A CUSTOM '{field}' needs an 'id'.", field=f"{field}.id")
        return kind

    def role_id(self, field: str) -> int | None:
        return decode_id(Kind.ROLE, self.id, field=f"{field}.id") if self.id else None


def id_or_none(kind: Kind, number: int | None) -> str | None:
    return None if number is None else encode_id(kind, number)


def organization(org: Organization) -> dict[str, Any]:
    return {
        "id": encode_id(Kind.ORGANIZATION, org.id),
        "name": org.name,
        "description": org.description,
        "created_at": isoformat(org.created_at),
    }


def account_role(name: str) -> dict[str, Any]:
    return {"type": "PREDEFINED", "name": name}


def user(row: User) -> dict[str, Any]:
    return {
        "id": encode_id(Kind.USER, row.id),
        "name": row.name,
        "email": row.email,
        "created_at": isoformat(row.created_at),
        "status": row.status,
        "role": account_role(row.account_role),
        "is_developer": row.is_developer,
    }


def role(row: Role) -> dict[str, Any]:
    body: dict[str, Any] = {"id": encode_id(Kind.ROLE, row.id), "name": row.name}
    if row.description:
        body["description"] = row.description
    body.update(
        permissions=permissions.for_level(row.level) if row.is_predefined else list(row.permissions or []),
        is_predefined=row.is_predefined,
        created_at=isoformat(row.created_at),
        updated_at=isoformat(row.updated_at),
    )
    return body


def space_role(row: Role) -> dict[str, Any]:
    """How a role held on a space is shown: by level name if predefined, else by id."""
    if row.is_predefined:
        return {"type": "PREDEFINED", "name": row.level}
    return {"type": "CUSTOM", "id": encode_id(Kind.ROLE, row.id), "name": row.name}


def role_binding(row: RoleBinding) -> dict[str, Any]:
    return {
        "id": encode_id(Kind.ROLE_BINDING, row.id),
        "role_id": encode_id(Kind.ROLE, row.role_id),
        "user_id": encode_id(Kind.USER, row.user_id),
        "resource_type": row.resource_type,
        "resource_id": encode_id(RESOURCE_KINDS[row.resource_type], row.resource_id),
        "created_at": isoformat(row.created_at),
        "updated_at": isoformat(row.updated_at),
    }


def space_membership(row: RoleBinding, held: Role) -> dict[str, Any]:
    return {
        "id": encode_id(Kind.ROLE_BINDING, row.id),
        "user_id": encode_id(Kind.USER, row.user_id),
        "space_id": encode_id(Kind.SPACE, row.resource_id),
        "role": space_role(held),
    }


def organization_membership(row: RoleBinding, held: Role) -> dict[str, Any]:
    return {
        "id": encode_id(Kind.ROLE_BINDING, row.id),
        "user_id": encode_id(Kind.USER, row.user_id),
        "organization_id": encode_id(Kind.ORGANIZATION, row.resource_id),
        "role": {"type": "PREDEFINED", "name": held.level},
    }


def api_key(key: ApiKey, bot: User | None = None, organizations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": encode_id(Kind.API_KEY, key.id),
        "name": key.name,
        "description": key.description,
        "key_type": key.key_type,
        "status": key.status,
        "redacted_key": key.redacted_key,
        "created_at": isoformat(key.created_at),
        "expires_at": isoformat(key.expires_at),
        "created_by_user_id": id_or_none(Kind.USER, key.created_by_user_id),
        "last_used_at": isoformat(key.last_used_at),
    }
    if key.key_type == "SERVICE" and bot is not None:
        body["bot_user"] = {
            "id": encode_id(Kind.USER, bot.id),
            "name": bot.name,
            "account_role": account_role(bot.account_role),
            "organizations": organizations or [],
        }
    return body
