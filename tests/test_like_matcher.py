"""The linear LIKE matcher agrees with the regex translation it replaced, without its blow-up."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalplane.filters.like import like_matcher
from evalplane.filters.values import like_parts


def _reference(pattern: str) -> re.Pattern[str]:
    """The old translation: '%' as '.*', '_' as '.', with backtracking."""
    parts = like_parts(pattern)
    return re.compile("".join(".*" if k == "any" else "." if k == "one" else re.escape(c) for k, c in parts), re.DOTALL)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="ab%_\\\n", max_size=8), st.text(alphabet="ab%_\\\n", max_size=10))
def test_agrees_with_the_regex_translation(pattern: str, text: str) -> None:
    assert like_matcher(like_parts(pattern))(text) == (_reference(pattern).fullmatch(text) is not None)


def test_many_percents_over_a_long_text_take_milliseconds() -> None:
    text = "a" * 100_000
    started = time.perf_counter()
    assert not like_matcher(like_parts("%" * 5000 + "x"))(text)
    assert not like_matcher(like_parts("%a" * 2000 + "%x"))(text)
    assert like_matcher(like_parts("%_a%" * 100))(text)
    assert time.perf_counter() - started < 1.0
