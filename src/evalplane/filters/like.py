"""LIKE matching in O(len(text) * len(pattern)), never exponential.

Translating LIKE to one backtracking regex (``%`` as ``.*``) makes ``'%%%%%%%%x'`` double in
cost with every ``%``. Here the pattern is cut at its ``%`` wildcards into fixed-length
segments (literal characters and ``_``): the first must sit at the start, the last at the
end, and each one between is placed at its leftmost fit after the previous one. Leftmost
placement is always safe because a segment's length is fixed, so nothing backtracks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from evalplane.filters.values import LikePart

LikeMatcher = Callable[[str], bool]


def _segment(parts: list[LikePart]) -> re.Pattern[str]:
    # no quantifiers or alternation: a search costs at most len(text) * len(segment)
    return re.compile("".join("." if kind == "one" else re.escape(ch) for kind, ch in parts), re.DOTALL)


def like_matcher(parts: Iterable[LikePart]) -> LikeMatcher:
    """A function telling whether a whole text matches the LIKE pattern given as parts."""
    segments: list[list[LikePart]] = [[]]
    for part in parts:
        if part[0] == "any":
            segments.append([])  # consecutive '%' leave empty segments, which match anywhere
        else:
            segments[-1].append(part)
    if len(segments) == 1:
        only = _segment(segments[0])
        return lambda text: only.fullmatch(text) is not None
    head, tail = _segment(segments[0]), _segment(segments[-1])
    head_len, tail_len = len(segments[0]), len(segments[-1])
    middle = [_segment(s) for s in segments[1:-1] if s]

    def matches(text: str) -> bool:
        end = len(text) - tail_len
        if end < head_len or head.match(text) is None or tail.match(text, end) is None:
            return False
        position = head_len
        for segment in middle:
            found = segment.search(text, position, end)
            if found is None:
                return False
            position = found.end()
        return True

    return matches
