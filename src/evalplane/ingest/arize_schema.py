"""The ``arize-schema`` header of an Arrow stream the SDK uploads: a base64 protobuf ``Schema``
in the Arrow schema's metadata that names the project and the kind of data.

Only three of its fields matter here, read straight from the protobuf wire format (so the
server needs none of the SDK's generated code): ``constants.model_id`` (field 1.1, the
project), ``constants.environment`` (field 1.4, 5 is TRACING) and the ``arize_spans`` marker
(field 8).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from evalplane.core.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class UploadSchema:
    """The ``arize-schema`` header of an uploaded Arrow stream: which project, and whether it
    is a tracing (spans) upload at all."""

    project_name: str
    is_spans: bool


_TRACING_ENVIRONMENT = 5


def upload_schema(metadata: dict[bytes, bytes] | None) -> UploadSchema:
    """Read the SDK's protobuf ``Schema`` (base64, in the Arrow schema's metadata).

    Only three fields matter here: ``constants.model_id`` (the project), ``constants.environment``
    and the ``arize_spans`` marker, read straight from the protobuf wire format.
    """
    raw = (metadata or {}).get(b"arize-schema")
    if raw is None:
        raise InvalidInput("The Arrow stream carries no 'arize-schema' metadata; send it with the arize SDK.")
    try:
        message = base64.b64decode(raw, validate=True)
        fields = _proto_fields(message)
        constants = _proto_fields(fields.get(1, b""))
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("The 'arize-schema' metadata is not a valid Arize schema.") from exc
    name_raw = constants.get(1, b"")
    if not isinstance(name_raw, bytes):
        raise InvalidInput("The 'arize-schema' metadata is not a valid Arize schema.")
    try:
        name = name_raw.decode().strip()
    except UnicodeDecodeError as exc:
        raise InvalidInput("The project name in 'arize-schema' is not UTF-8 text.") from exc
    is_spans = 8 in fields or constants.get(4) == _TRACING_ENVIRONMENT
    if not name:
        raise InvalidInput("The 'arize-schema' metadata names no project (model_id).")
    if len(name) > 255 or "\x00" in name:
        raise InvalidInput("The project name must be at most 255 characters, without NUL.")
    return UploadSchema(project_name=name, is_spans=is_spans)


def _proto_fields(message: Any) -> dict[int, bytes | int]:
    """Top-level fields of a protobuf message: length-delimited ones as bytes, varints as ints
    (the last occurrence wins, as protobuf does for singular fields)."""
    if not isinstance(message, bytes):
        raise ValueError("not a message")
    out: dict[int, bytes | int] = {}
    position = 0
    while position < len(message):
        key, position = _varint(message, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            out[number], position = _varint(message, position)
        elif wire == 2:
            size, position = _varint(message, position)
            if position + size > len(message):
                raise ValueError("truncated")
            out[number] = message[position : position + size]
            position += size
        elif wire == 1:
            position += 8
        elif wire == 5:
            position += 4
        else:
            raise ValueError("unsupported wire type")
    if position != len(message):
        raise ValueError("truncated")
    return out


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise ValueError("bad varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
