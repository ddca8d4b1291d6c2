"""Regular expressions written by users, matched in linear time.

Python's ``re`` backtracks: ``^(a+)+$`` over ``'a' * 5000 + 'b'`` runs for hours. User
patterns go through RE2 instead, whose running time grows linearly with the text. RE2
refuses what cannot be matched that way (backreferences, lookahead/lookbehind, atomic
groups); the same compile runs when an evaluator is saved, so such a pattern is a 400 then.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

MAX_PATTERN_CHARS = 1_000
MAX_SCAN_CHARS = 1_000_000  # a regex looks at most this much of a value (RE2 is linear; this bounds the constant)


class RegexError(ValueError):
    """The pattern is not one RE2 accepts; the message says why, in words for users."""


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a bad user pattern is not a server error worth a log line
    options.max_mem = 8 << 20  # bounds the compiled program, so a huge repetition count is refused
    return options


@lru_cache(maxsize=256)
def compile_regex(pattern: str) -> Any:
    """The compiled RE2 pattern, or :class:`RegexError` with a reason a user can act on."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise RegexError(f"the pattern is longer than {MAX_PATTERN_CHARS} characters")
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise RegexError(f"{reason} (patterns use RE2 syntax: no backreferences, lookahead or lookbehind)") from None
    except (TypeError, UnicodeEncodeError):
        raise RegexError("the pattern must be text without lone surrogate characters") from None


def search(pattern: str, text: str) -> str | None:
    """The first match of ``pattern`` in (the first MAX_SCAN_CHARS of) ``text``, or None."""
    text = text[:MAX_SCAN_CHARS]
    if not text.isascii():
        # RE2 works on UTF-8; a lone surrogate cannot be encoded, so it stands as U+FFFD.
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    match = compile_regex(pattern).search(text)
    return None if match is None else match.group(0)
