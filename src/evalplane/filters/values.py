"""Semantics shared by the in-memory and SQL backends, so the two cannot drift apart.

- Typed reads: a comparison reads its column as the kind of its literal (text, number or
  boolean). An attribute holding another kind reads as NULL, so the comparison is unknown and
  the span does not match — under NOT too, exactly as in SQL.
- Numbers compare as double-precision floats everywhere. Compared with a number, a value is read
  as a number when it is a JSON number or a *numeric string*: an optional '-', digits, and
  optionally '.' followed by digits, at most 16 characters in all ("1", "-0.5", "007"; not
  "1e3", " 1", "1.", "+1", "NaN"). Anything else compared with a number is unknown.
- Compared with a quoted string, only strings match: the number 1 is not the string '1'.
- Text compares by code point (PostgreSQL is told COLLATE "C").
- LIKE is case-sensitive: ``%`` matches any run of characters (newlines included), ``_``
  exactly one, and a backslash makes the next character literal (a trailing one is literal).
- Attribute paths walk nested objects and lists. A segment of ASCII digits (at most 9 significant) indexes a list
  (and is a plain key on an object); on a list any other segment finds nothing. JSON held in
  a *string* is not parsed: the string is a leaf.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

LikePart = tuple[Literal["any", "one", "char"], str]

NUMERIC_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
NUMERIC_TEXT_MAX = 16  # short enough that every database converts it to the same double


def number_from_text(text: str) -> float | None:
    """The number a numeric string stands for (see above), or None when it is not one."""
    if len(text) <= NUMERIC_TEXT_MAX and NUMERIC_TEXT.fullmatch(text):
        return float(text)
    return None


def like_parts(pattern: str) -> Iterator[LikePart]:
    """Split a LIKE pattern into wildcards and literal characters."""
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            yield ("char", pattern[i + 1])
            i += 2
            continue
        if ch == "%":
            yield ("any", "")
        elif ch == "_":
            yield ("one", "")
        else:
            yield ("char", ch)
        i += 1


def list_index(segment: str) -> int | None:
    """The list position a path segment names, or None when it cannot index a list."""
    if segment.isascii() and segment.isdigit() and len(segment.lstrip("0")) <= 9:
        return int(segment)
    return None


def looks_like_signed_index(segment: str) -> bool:
    """Segments such as '-1' or ' 2' that PostgreSQL would read as list positions but we do not."""
    return re.fullmatch(r"[ \t\n\r\f\v]*[+-]?[0-9]+", segment) is not None and not segment.isdigit()
