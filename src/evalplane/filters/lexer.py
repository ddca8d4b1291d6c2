"""Turns filter text into tokens, each remembering where it starts."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, cast

from evalplane.filters.errors import FilterSyntaxError

TokenKind = Literal["ref", "string", "number", "op", "(", ")", ",", "end"]
RefValue = tuple[tuple[str, ...], tuple[bool, ...]]  # a "ref" token's (segments, quoted)

_OPERATORS = ("<=", ">=", "!=", "<>", "==", "=", "<", ">")
_OP_ALIASES = {"<>": "!=", "==": "="}
_INT64 = 2**63


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    value: object
    pos: int
    text: str

    def describe(self) -> str:
        if self.kind == "end":
            return "end of filter"
        if self.kind == "string":
            return "string " + self.text
        if self.kind == "ref" and self.keyword:
            return f"keyword {self.keyword}"
        return f"'{self.text}'"

    @property
    def path(self) -> tuple[tuple[str, ...], tuple[bool, ...]]:
        """A reference's segments and whether each was double-quoted."""
        return cast(tuple[tuple[str, ...], tuple[bool, ...]], self.value)

    @property
    def keyword(self) -> str | None:
        """The upper-cased word when this is a single bare word (a possible keyword)."""
        if self.kind != "ref":
            return None
        segments, quoted = self.path
        if len(segments) == 1 and not quoted[0]:
            word = segments[0].upper()
            return word if word in KEYWORDS else None
        return None


KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "LIKE", "CONTAINS", "IS", "NULL", "TRUE", "FALSE"})


def _is_digit(ch: str) -> bool:
    return "0" <= ch <= "9"


def _is_word_start(ch: str) -> bool:
    return ch.isascii() and (ch.isalpha() or ch == "_")


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


def _is_segment_char(ch: str) -> bool:
    return _is_word_char(ch) or ch == "-"


class TokenStream:
    """Tokens read as the parser asks for them: a hostile filter fails at its first problem
    (say, the 51st '(') without the rest of it being read."""

    def __init__(self, text: str) -> None:
        self._source = _tokens(text)
        self._read: list[Token] = []

    def __getitem__(self, index: int) -> Token:
        while len(self._read) <= index:
            token = next(self._source, None)
            if token is None:  # past the end: the end token again
                return self._read[-1]
            self._read.append(token)
        return self._read[index]


def tokenize(text: str) -> TokenStream:
    return TokenStream(text)


def _tokens(text: str) -> Iterator[Token]:
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            yield Token("end", None, n, "")
            return
        ch = text[i]
        start = i
        if ch == "'":
            string, i = _string(text, i)
            yield Token("string", string, start, text[start:i])
        elif _is_digit(ch) or (ch == "-" and i + 1 < n and _is_digit(text[i + 1])):
            number, i = _number(text, i)
            yield Token("number", number, start, text[start:i])
        elif _is_word_start(ch) or ch == '"':  # a record column may be quoted whole: "1st try"
            reference, i = _reference(text, i)
            yield Token("ref", reference, start, text[start:i])
        elif ch in "(),":
            yield Token(ch, ch, start, ch)  # type: ignore[arg-type]
            i += 1
        else:
            for op in _OPERATORS:
                if text.startswith(op, i):
                    yield Token("op", _OP_ALIASES.get(op, op), start, op)
                    i += len(op)
                    break
            else:
                if ch == "-":
                    raise FilterSyntaxError(f"expected a digit after '-' at position {i + 1}", position=i + 1)
                raise FilterSyntaxError(f"unexpected character {ch!r} at position {i}", position=i)


def _string(text: str, i: int) -> tuple[str, int]:
    """A single-quoted string; a doubled quote ('') stands for one quote."""
    start = i
    i += 1
    parts: list[str] = []
    while True:
        end = text.find("'", i)
        if end < 0:
            raise FilterSyntaxError(
                f"unterminated string starting at position {start}: add the closing quote (')", position=start
            )
        parts.append(text[i:end])
        if text.startswith("''", end):
            parts.append("'")
            i = end + 2
            continue
        value = "".join(parts)
        nul = value.find("\x00")
        if nul >= 0:
            raise FilterSyntaxError(
                f"strings may not contain NUL characters (string at position {start})", position=start
            )
        return value, end + 1


def _number(text: str, i: int) -> tuple[int | float, int]:
    start = i
    n = len(text)
    if text[i] == "-":
        i += 1
    while i < n and _is_digit(text[i]):
        i += 1
    is_float = False
    if i < n and text[i] == "." and i + 1 < n and _is_digit(text[i + 1]):
        is_float = True
        i += 1
        while i < n and _is_digit(text[i]):
            i += 1
    if i < n and text[i] in "eE":
        j = i + 1
        if j < n and text[j] in "+-":
            j += 1
        if j < n and _is_digit(text[j]):
            is_float = True
            i = j
            while i < n and _is_digit(text[i]):
                i += 1
    if i < n and (_is_word_char(text[i]) or text[i] == "."):
        raise FilterSyntaxError(f"malformed number starting at position {start}", position=start)
    literal = text[start:i]
    if is_float:
        value: int | float = float(literal)
        if not math.isfinite(value):
            raise FilterSyntaxError(f"number out of range at position {start}", position=start)
    else:
        value = int(literal) if len(literal) <= 20 else _INT64  # int() refuses very long digit strings
        if not -_INT64 <= value < _INT64:
            raise FilterSyntaxError(f"number out of range at position {start}", position=start)
    return value, i


def _reference(text: str, i: int) -> tuple[RefValue, int]:
    """A dotted name such as ``attributes.llm.output_messages.0."my key"``; returns (segments, quoted)."""
    n = len(text)
    if text[i] == '"':
        name, i = _quoted_name(text, i)
        segments, quoted = [name], [True]
    else:
        start = i
        while i < n and _is_word_char(text[i]):
            i += 1
        segments, quoted = [text[start:i]], [False]
    while i < n and text[i] == ".":
        i += 1
        if i < n and text[i] == '"':
            name, i = _quoted_name(text, i)
            segments.append(name)
            quoted.append(True)
            continue
        seg_start = i
        while i < n and _is_segment_char(text[i]):
            i += 1
        if i == seg_start:
            raise FilterSyntaxError(f"expected a name after '.' at position {i}", position=i)
        segments.append(text[seg_start:i])
        quoted.append(False)
    return (tuple(segments), tuple(quoted)), i


def _quoted_name(text: str, i: int) -> tuple[str, int]:
    """A double-quoted path segment; a doubled quote ("") stands for one quote."""
    start = i
    i += 1
    parts: list[str] = []
    while True:
        end = text.find('"', i)
        if end < 0:
            raise FilterSyntaxError(
                f'unterminated quoted name starting at position {start}: add the closing quote (")', position=start
            )
        parts.append(text[i:end])
        if text.startswith('""', end):
            parts.append('"')
            i = end + 2
            continue
        name = "".join(parts)
        if not name or "\x00" in name:
            raise FilterSyntaxError(f"quoted name at position {start} must be non-empty text", position=start)
        return name, end + 1
