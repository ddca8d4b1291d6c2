"""Opaque, tamper-evident keyset cursors.

A cursor carries the sort key of the last row served and a digest of the filters it
was issued for, signed with HMAC. A forged, edited or foreign cursor, or one reused
with different filters, is rejected rather than silently returning the wrong page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

import orjson

from evalplane.core.errors import InvalidInput

_SIG_BYTES = 16


class CursorCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:_SIG_BYTES]

    @staticmethod
    def filters_digest(scope: str, filters: dict[str, Any]) -> str:
        canonical = orjson.dumps([scope, filters], option=orjson.OPT_SORT_KEYS)
        return hashlib.blake2s(canonical, digest_size=8).hexdigest()

    def encode(self, scope: str, filters: dict[str, Any], position: list[Any]) -> str:
        payload = orjson.dumps({"s": scope, "f": self.filters_digest(scope, filters), "p": position})
        token = payload + self._sign(payload)
        return base64.urlsafe_b64encode(token).decode("ascii").rstrip("=")

    def decode(self, token: str, scope: str, filters: dict[str, Any]) -> list[Any]:
        """Return the position stored in ``token``; raise InvalidInput if it is not ours."""
        invalid = InvalidInput(
            "The 'cursor' is not valid. Use the exact next_cursor from a previous page.", field="cursor"
        )
        if not token or len(token) > 2048:
            raise invalid
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise invalid from None
        payload, signature = raw[:-_SIG_BYTES], raw[-_SIG_BYTES:]
        if len(raw) <= _SIG_BYTES or not hmac.compare_digest(signature, self._sign(payload)):
            raise invalid
        data = orjson.loads(payload)
        if data.get("s") != scope:
            raise invalid
        if data.get("f") != self.filters_digest(scope, filters):
            raise InvalidInput(
                "The 'cursor' was issued for different filters; repeat the same filters when paging, "
                "or start again without a cursor.",
                field="cursor",
            )
        position = data.get("p")
        if not isinstance(position, list):
            raise invalid
        return position
