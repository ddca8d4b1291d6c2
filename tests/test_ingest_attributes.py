"""Unflattening OpenInference attributes: nesting, lists, and no loss on awkward keys."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from evalplane.ingest.attributes import nest, unflatten


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    items = enumerate(node) if isinstance(node, list) else node.items()
    out: dict[str, Any] = {}
    for key, value in items:
        path = f"{prefix}{key}"
        if isinstance(value, (dict, list)):
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def test_openinference_messages_become_lists_of_objects() -> None:
    flat = {
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.contents.0.message_content.text": "hi",
        "llm.token_count.total": 12,
        "llm.model_name": "gpt-4o",
    }
    assert unflatten(flat) == {
        "llm": {
            "input_messages": [
                {"message": {"role": "system"}},
                {"message": {"role": "user", "contents": [{"message_content": {"text": "hi"}}]}},
            ],
            "token_count": {"total": 12},
            "model_name": "gpt-4o",
        }
    }


def test_sparse_or_padded_indexes_stay_objects() -> None:
    assert unflatten({"a.1": "x", "b.00": "y", "b.1": "z"}) == {"a": {"1": "x"}, "b": {"00": "y", "1": "z"}}


def test_a_key_that_is_also_a_prefix_keeps_both_values_whatever_the_order() -> None:
    expected = {"a": 1, "a.b": 2, "a.b.c": 3}
    assert unflatten({"a": 1, "a.b": 2, "a.b.c": 3}) == expected
    assert unflatten({"a.b.c": 3, "a.b": 2, "a": 1}) == expected


segment = st.one_of(st.sampled_from(["llm", "input", "0", "1", "2", "message", "x", ""]), st.text("ab.", max_size=2))
keys = st.lists(segment, min_size=1, max_size=4).map(".".join)
scalars = st.one_of(st.text(max_size=5), st.integers(), st.floats(allow_nan=False), st.booleans())


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, scalars, max_size=8))
def test_unflatten_loses_nothing(flat: dict[str, Any]) -> None:
    assert flatten(unflatten(dict(flat))) == flat


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(keys, scalars), max_size=8))
def test_nest_by_compiled_shape_equals_unflatten(items: list[tuple[str, Any]]) -> None:
    names = tuple(k for k, _ in items)
    values = [v for _, v in items]
    for _ in range(2):  # the first call compiles the shape, the second reuses it
        assert nest(names, values) == unflatten(dict(items))


def test_compiled_shapes_keep_hostile_keys_as_data() -> None:
    names = ("a'}) or __import__('os').system('x') #.b", 'c\\".d', "0.1.x")
    assert nest(names, [1, 2, 3]) == unflatten(dict(zip(names, [1, 2, 3], strict=True)))
