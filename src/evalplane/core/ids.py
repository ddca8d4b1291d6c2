"""Opaque public identifiers: base64 of ``"<Kind>:<number>:<check>"``.

The check is a short keyless digest of kind and number: it makes ids stable across
restarts and secret rotation while catching hand-edited or truncated values. The
``arize`` SDK treats a value as an id when it decodes to text containing ``:``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from enum import StrEnum
from functools import lru_cache
from urllib.parse import unquote

from evalplane.core.errors import UnknownId

_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class Kind(StrEnum):
    """The kind written into each public id. Names follow the ones Arize itself uses."""

    ORGANIZATION = "Organization"
    SPACE = "Space"
    USER = "User"
    API_KEY = "ApiKey"
    ROLE = "Role"
    ROLE_BINDING = "RoleBinding"
    PROJECT = "Model"
    DATASET = "Dataset"
    DATASET_VERSION = "DatasetVersion"
    DATASET_EXAMPLE = "DatasetExample"
    EVALUATOR = "Evaluator"
    EVALUATOR_VERSION = "EvaluatorVersion"
    AI_INTEGRATION = "GenerativeIntegration"
    EXPERIMENT = "Experiment"
    EXPERIMENT_RUN = "ExperimentRun"
    TASK = "OnlineTask"
    TASK_RUN = "OnlineTaskRun"
    ANNOTATION_CONFIG = "AnnotationConfig"


def _check(kind: str, number: int) -> str:
    digest = hashlib.blake2s(f"{kind}:{number}".encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "big")
    chars = []
    for _ in range(4):
        value, rem = divmod(value, len(_ALPHABET))
        chars.append(_ALPHABET[rem])
    return "".join(chars)


@lru_cache(maxsize=1 << 16)  # ~250 ids per list page; hot pages repeat them (bench/README.md)
def encode_id(kind: Kind, number: int) -> str:
    raw = f"{kind.value}:{number}:{_check(kind.value, number)}"
    return base64.b64encode(raw.encode()).decode("ascii")


def id_encoder(kind: Kind) -> Callable[[int], str]:
    """``encode_id`` for one kind, for hot loops: a plain dict lookup per id once seen."""
    return _ENCODERS[kind]


def _make_encoder(kind: Kind) -> Callable[[int], str]:
    seen: dict[int, str] = {}

    def encode(number: int) -> str:
        text = seen.get(number)
        if text is None:
            if len(seen) >= 1 << 16:
                seen.clear()
            text = seen[number] = encode_id(kind, number)
        return text

    return encode


_ENCODERS = {kind: _make_encoder(kind) for kind in Kind}


# What each kind is called in messages.
_NOUNS = {Kind.PROJECT: "project", Kind.AI_INTEGRATION: "AI integration", Kind.TASK: "task", Kind.TASK_RUN: "task run"}


def decode_id(kind: Kind, value: str, *, field: str = "id") -> int:
    """Return the row number behind ``value`` or raise :class:`UnknownId` (a 404).

    Accepts percent-encoded input (path parameters), missing base64 padding, and the
    two-part ``Kind:number`` form the seed's own parameter examples use. Any string is a
    well-typed id, so one that decodes to nothing of ``kind`` names nothing: not found,
    exactly like a real id of something the caller may not see.
    """
    text = unquote(value).strip()
    number = _number(kind, text) if 0 < len(text) <= 200 else None
    if number is None:
        noun = _NOUNS.get(kind) or " ".join(_split_words(kind.value)).lower()
        raise UnknownId(f"No {noun} has the id given in '{field}'.", field=field)
    return number


def _number(kind: Kind, text: str) -> int | None:
    try:
        padded = text + "=" * (-len(text) % 4)
        decoded = base64.b64decode(padded, altchars=None, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    parts = decoded.split(":")
    # str.isdigit() also accepts digits such as '²' that int() refuses: ASCII only.
    if len(parts) not in (2, 3) or parts[0] != kind.value or not (parts[1].isascii() and parts[1].isdigit()):
        return None
    number = int(parts[1])
    if len(parts) == 3 and parts[2] != _check(kind.value, number):
        return None
    if number <= 0 or number >= 2**63:
        return None
    return number


def _split_words(name: str) -> list[str]:
    words: list[str] = []
    for char in name:
        if char.isupper() or not words:
            words.append(char)
        else:
            words[-1] += char
    return words


def maybe_decode_id(kind: Kind, value: str | None, *, field: str) -> int | None:
    return None if value is None else decode_id(kind, value, field=field)
