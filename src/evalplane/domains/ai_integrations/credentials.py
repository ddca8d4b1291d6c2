"""An integration's credentials: the API key and the custom headers, both write-only.

Headers are stored sealed (encrypted with the same box as the key) in the ``headers``
column as ``{"sealed:v1": token}``; a colon cannot start a header name, so a row saved
before sealing (plain headers) is still told apart and read. Only the engine opens them.

Re-pointing an integration (its ``base_url`` or ``provider``) or changing its headers would
send the stored credentials somewhere new, so a caller who is not an administrator must
send those credentials again in the same request.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.errors import Forbidden, Unprocessable
from evalplane.core.secrets import SecretBox, SecretUnreadable
from evalplane.db.models import AiIntegration
from evalplane.domains.access.principal import Level, Principal
from evalplane.domains.ai_integrations.checks import PROVIDERS, clean_base_url, enum

SEALED = "sealed:v1"


def seal_headers(box: SecretBox, headers: dict[str, str] | None) -> dict[str, str] | None:
    if not headers:
        return None
    return {SEALED: box.encrypt(json.dumps(headers)).decode("ascii")}


def open_headers(box: SecretBox, row: AiIntegration) -> dict[str, str]:
    """The headers to send, decrypted; Unprocessable if the server secret changed."""
    stored = row.headers
    if not stored:
        return {}
    if SEALED not in stored:
        return dict(stored)  # saved before headers were sealed
    try:
        opened = json.loads(box.decrypt(stored[SEALED].encode("ascii")))
    except SecretUnreadable as exc:
        raise Unprocessable(
            f"The headers of AI integration '{row.name}' cannot be decrypted; was the server secret key changed? "
            "Set the headers again on the integration."
        ) from exc
    return {str(k): str(v) for k, v in opened.items()}


async def seal_saved_headers(session: AsyncSession, box: SecretBox) -> int:
    """Seal headers saved in plain text by an older version; how many rows were sealed."""
    rows = (await session.scalars(select(AiIntegration).where(AiIntegration.headers.is_not(None)))).all()
    sealed = 0
    for row in rows:
        if row.headers and SEALED not in row.headers:
            row.headers = seal_headers(box, dict(row.headers))
            sealed += 1
    return sealed


def has_headers(row: AiIntegration) -> bool:
    return bool(row.headers)


def _stored_headers(box: SecretBox, row: AiIntegration) -> dict[str, str] | None:
    """The stored headers, or None when they can no longer be read (any new value differs)."""
    try:
        return open_headers(box, row)
    except Unprocessable:
        return None


def _is_admin(principal: Principal, space_ids: list[int]) -> bool:
    return principal.is_account_admin or all(principal.level_in(s) >= Level.ADMIN for s in space_ids)


def require_credentials_for_repoint(
    principal: Principal, box: SecretBox, row: AiIntegration, space_ids: list[int], changes: dict[str, Any]
) -> None:
    """403 when a non-administrator changes where the stored credentials go without sending them."""
    if _is_admin(principal, space_ids):
        return
    wanted = {
        "base_url": clean_base_url(changes["base_url"]) if "base_url" in changes else row.base_url,
        "provider": enum(changes["provider"], PROVIDERS, "provider") if "provider" in changes else row.provider,
    }
    repointed = [key for key, value in wanted.items() if value != getattr(row, key)]
    headers_changed = "headers" in changes and (changes["headers"] or {}) != _stored_headers(box, row)
    if not repointed and not headers_changed:
        return
    missing = []
    if row.api_key_encrypted is not None and "api_key" not in changes:
        missing.append("api_key")
    if repointed and has_headers(row) and "headers" not in changes:
        missing.append("headers")
    if missing:
        what = ", ".join(repointed + (["headers"] if headers_changed else []))
        raise Forbidden(
            f"Changing {what} of an AI integration sends its stored credentials to a new place: send "
            f"{' and '.join(missing)} again in the same request, or ask an ADMIN of its spaces."
        )
