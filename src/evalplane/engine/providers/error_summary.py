"""What a provider's error answer may contribute to a run's ``failure_reason``: its status
and, only when the body has a provider's JSON error shape, the error's type, code and a
short message, with anything that looks like a credential blanked out. Raw bodies (an
HTML page, an internal service's answer echoing request headers) are never copied."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MAX_MESSAGE = 200
REDACTED = "[redacted]"

# Credentials as they tend to appear in echoed requests and provider messages, and what
# each becomes (a header or field keeps its name, loses its value).
_PATTERNS = [
    (
        re.compile(
            r"(?i)\b(authorization|proxy-authorization|x-api-key|api[-_]?key|cookie|set-cookie|password|secret|token)"
            r"(\"?\s*[:=]\s*\"?)(bearer\s+|basic\s+)?[^\s\",;}]+"
        ),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{4,}"), REDACTED),
    (re.compile(r"\b(sk|pk|rk|ak)-[A-Za-z0-9_-]{6,}"), REDACTED),
    (re.compile(r"\b[A-Za-z0-9_-]{32,}\b"), REDACTED),  # long opaque tokens
]


class Redactor:
    """Blanks out the integration's own secrets and anything shaped like a credential."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret containing another is removed whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


def response_body(response: Any) -> Any:
    """An error response's body as JSON, or None (SDKs unwrap ``error`` themselves, so the raw
    body is read again to see the provider's own shape)."""
    try:
        return response.json()
    except Exception:  # noqa: BLE001 - any unreadable body is simply not a provider error
        return None


def summary(body: Any, redact: Redactor) -> str:
    """``"type/code: message"`` from an OpenAI- or Anthropic-shaped error body; '' otherwise."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ""
    parts = [str(error[k]) for k in ("type", "code") if isinstance(error.get(k), str | int) and error.get(k) != ""]
    message = error.get("message")
    text = " ".join(str(message).split()) if isinstance(message, str) else ""
    text = redact(text)
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE].rstrip() + "…"
    label = redact("/".join(parts))[:80]
    if label and text:
        return f"{label}: {text}"
    return label or text
