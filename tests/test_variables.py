"""Resolving evaluator variables against a span document."""

from __future__ import annotations

from evalplane.engine.variables import missing, resolve_path, resolve_variables

SPAN = {
    "name": "chat",
    "context": {"span_id": "ab12"},
    "attributes": {
        "input": {"value": "What is 2+2?"},
        "output": {"value": "4"},
        "llm": {"output_messages": [{"message": {"role": "assistant", "content": "4"}}]},
        "retrieval.documents": '[{"document": {"content": "two plus two is four"}}]',
        "metadata": {"expected": "4"},
    },
}


def test_paths_walk_lists_dotted_keys_and_json_strings() -> None:
    assert resolve_path(SPAN, "attributes.llm.output_messages.0.message.content") == "4"
    assert resolve_path(SPAN, "attributes.retrieval.documents.0.document.content") == "two plus two is four"
    assert resolve_path(SPAN, "context.span_id") == "ab12"
    assert resolve_path(SPAN, "attributes.llm.output_messages.3.message") is None
    assert resolve_path(SPAN, "attributes.nope") is None


def test_mappings_then_paths_then_conventional_defaults() -> None:
    values = resolve_variables(
        SPAN,
        ["input", "output", "expected", "attributes.metadata.expected", "name", "missing"],
        {"expected": "attributes.metadata.expected"},
    )
    assert values == {
        "input": "What is 2+2?",
        "output": "4",
        "expected": "4",
        "attributes.metadata.expected": "4",
        "name": "chat",
        "missing": None,
    }
    assert missing(values) == ["missing"]
