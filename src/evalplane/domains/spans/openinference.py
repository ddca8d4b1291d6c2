"""OpenInference conventions applied when spans are stored.

OpenInference sends the ``metadata`` attribute as a JSON *string* (``using_metadata`` and the
instrumentors serialise a dict). Stored as a string it is a leaf that filters cannot reach into,
so ``metadata.<key>`` filters and ``attributes.metadata.<key>`` mappings would never match; it is
stored as the object it encodes instead.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

METADATA = "metadata"
_INT64 = 2**63


def metadata_as_object(attributes: dict[str, Any]) -> None:
    """Replace a JSON-object string under ``metadata`` with the object, in place.

    Anything else (not JSON, not an object, or holding values the databases cannot store or
    the parser would round: NUL characters, numbers beyond 64-bit integers) stays the string
    it was, so nothing is lost.
    """
    text = attributes.get(METADATA)
    if type(text) is not str or not text.lstrip().startswith("{"):
        return
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return
    if isinstance(parsed, dict) and _storable(parsed):
        attributes[METADATA] = parsed


def _storable(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -_INT64 <= value < _INT64
    if isinstance(value, float):  # orjson reads integers beyond 64 bits as rounded floats
        return math.isfinite(value) and abs(value) < _INT64
    if isinstance(value, dict):
        return all("\x00" not in k and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return False
