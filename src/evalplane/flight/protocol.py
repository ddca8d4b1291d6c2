"""The SDK's Flight wire format: JSON commands in, small protobuf messages out.

The SDK writes descriptors, tickets and action bodies with protobuf's JSON printer, so field
names arrive in lowerCamelCase (``spaceId``) and 64-bit integers as strings; snake_case is
accepted too. Replies are protobuf messages of a few scalar fields, encoded here by hand so the
server needs no generated code from the SDK.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from evalplane.core.errors import InvalidInput
from evalplane.core.ids import Kind, decode_id

MAX_COMMAND_BYTES = 64 * 1024
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


@dataclass(frozen=True, slots=True)
class Fields:
    """The fields of one request message, read by snake_case name."""

    values: Mapping[str, Any]

    @classmethod
    def of(cls, raw: Any, what: str) -> Fields:
        if not isinstance(raw, dict):
            raise InvalidInput(f"The {what} must be a JSON object.")
        return cls({snake(str(key)): value for key, value in raw.items()})

    def text(self, name: str, *, required: bool = True) -> str | None:
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise InvalidInput(f"'{name}' is required.", field=name)
            return None
        if not isinstance(value, str):
            raise InvalidInput(f"'{name}' must be a string.", field=name)
        return value

    def require(self, name: str) -> str:
        value = self.text(name)
        assert value is not None
        return value

    def id_of(self, name: str, kind: Kind, *, required: bool = True) -> int | None:
        """The row number behind an id field; as on ``/v2``, an id that names nothing (malformed,
        or of another kind) is not found."""
        text = self.text(name, required=required)
        return None if text is None else decode_id(kind, text, field=name)

    def require_id(self, name: str, kind: Kind) -> int:
        number = self.id_of(name, kind)
        assert number is not None
        return number

    def raw(self) -> dict[str, Any]:
        return dict(self.values)


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command, ticket or action body: its kind (the one key of the wrapping object,
    in snake_case) and that key's fields; ``kind`` is None for an unwrapped message."""

    kind: str | None
    fields: Fields


def parse_command(data: bytes, what: str, known_kinds: Iterable[str]) -> Command:
    """Read a JSON command. ``{"createDataset": {...}}`` names its kind when the key is a known
    one; any other object is an unwrapped message (the SDK's span export query is one)."""
    if len(data) > MAX_COMMAND_BYTES:
        raise InvalidInput(f"The {what} is larger than {MAX_COMMAND_BYTES} bytes.")
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise InvalidInput(f"The {what} is not valid JSON.") from None
    if not isinstance(raw, dict):
        raise InvalidInput(f"The {what} must be a JSON object.")
    kinds = set(known_kinds)
    if len(raw) == 1:
        key, value = next(iter(raw.items()))
        if snake(str(key)) in kinds:
            return Command(snake(str(key)), Fields.of(value, what))
    return Command(None, Fields.of(raw, what))


# --- protobuf encoding of replies ------------------------------------------------------


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_message(fields: Iterable[tuple[int, str | int | bytes | list[Any] | None]]) -> bytes:
    """Protobuf bytes for (field number, value) pairs: ``str`` as a string, ``int`` as a varint,
    ``bytes`` as an embedded message, a list as a repeated field; None and defaults are left out."""
    out = bytearray()
    for number, value in fields:
        items = value if isinstance(value, list) else [value]
        for item in items:
            if item is None or item == "" or item == 0:
                continue
            if isinstance(item, bool):
                out += _varint(number << 3) + _varint(int(item))
            elif isinstance(item, int):
                out += _varint(number << 3) + _varint(item)
            elif isinstance(item, str):
                out += _length_delimited(number, item.encode("utf-8"))
            elif isinstance(item, bytes):
                out += _length_delimited(number, item)
            else:
                raise TypeError(f"cannot encode {type(item).__name__} as a protobuf field")
    return bytes(out)
