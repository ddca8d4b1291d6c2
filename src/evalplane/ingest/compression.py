"""Request bodies sent gzip- or deflate-compressed, inflated with bounded time and memory."""

from __future__ import annotations

import zlib

from evalplane.core.errors import DomainError, InvalidInput

MAX_MEMBERS = 64  # exporters send one gzip member; many tiny ones only cost time
_INFLATE_CHUNK = 1 << 16


class PayloadTooLarge(DomainError):
    title = "Request body too large"


class UnsupportedMediaType(DomainError):
    title = "Unsupported media type"


def inflate(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """Undo gzip/deflate without ever holding more than ``limit`` bytes (no gzip bombs).

    Linear in the body: the input is walked with an offset into a memoryview and fed in
    bounded chunks, so zlib's ``unused_data`` (a copy of what follows a member) stays small.
    """
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        if len(body) > limit:
            raise PayloadTooLarge(f"The decoded request exceeds {limit} bytes.")
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise UnsupportedMediaType(f"Content-Encoding '{encoding}' is not supported; use gzip or none.")
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
    view = memoryview(body)
    out = bytearray()
    offset = members = 0
    try:
        while offset < len(view):  # gzip allows several members back to back
            members += 1
            if members > MAX_MEMBERS:
                raise InvalidInput(f"The compressed request body holds more than {MAX_MEMBERS} gzip members.")
            inflater = zlib.decompressobj(wbits)
            while not inflater.eof:
                if offset >= len(view):
                    raise InvalidInput("The compressed request body is truncated.")
                chunk = view[offset : offset + _INFLATE_CHUNK]
                out += inflater.decompress(chunk, limit + 1 - len(out))
                if len(out) > limit or inflater.unconsumed_tail:
                    raise PayloadTooLarge(f"The decompressed request exceeds {limit} bytes.")
                offset += len(chunk) - len(inflater.unused_data)
    except zlib.error as exc:
        raise InvalidInput(f"The request body is not valid {encoding} data.") from exc
    return bytes(out)
