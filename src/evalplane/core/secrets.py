"""Encryption of stored credentials (provider API keys) with a key derived from the server secret.

The server secret never touches the database, so a copy of the database alone does not
reveal any provider key. Tokens are Fernet (AES-128-CBC + HMAC-SHA256, with a timestamp).
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Distinct derivations per purpose, so one derived key never serves two uses.
_PURPOSE_PROVIDER_KEYS = b"evalplane/ai-integration-api-keys/v1"


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted: the server secret changed or the value was altered."""


class SecretBox:
    """Encrypts and decrypts short secrets for storage."""

    def __init__(self, server_secret: str, purpose: bytes = _PURPOSE_PROVIDER_KEYS) -> None:
        if not server_secret:
            raise ValueError("a non-empty server secret is required")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(server_secret.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(token)).decode("utf-8")
        except (InvalidToken, UnicodeDecodeError, TypeError, ValueError) as exc:
            raise SecretUnreadable("the stored secret cannot be decrypted with this server's secret key") from exc


@lru_cache(maxsize=8)
def box_for(server_secret: str) -> SecretBox:
    """The box for provider API keys; cached because key derivation runs per request otherwise."""
    return SecretBox(server_secret)
