"""A session's ``{conversation}``: one ``{input, output}`` turn per trace, in start-time order,
as a JSON array of at most 100,000 characters.

A turn is the trace's root span ``input.value`` / ``output.value``; a root without them falls
back to the trace's LLM messages (the last input message, the first output message). When
the whole does not fit, the oldest turns are dropped and the array starts with
``{"omitted_turns": N}`` so a judge (and a person reading the prompt) knows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, TypeVar

import orjson

from evalplane.engine.variables import resolve_path

LIMIT = 100_000
T = TypeVar("T")


def root_span(spans: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The group's root span document (see ``first_root``), or {} for no spans."""
    found = first_root(spans, [(doc["context"]["span_id"], doc.get("parent_id")) for doc in spans])
    return found if found is not None else {}


def first_root(spans: Sequence[T], ids: Sequence[tuple[str, str | None]]) -> T | None:
    """The first span without a parent in the group (spans come in start-time order, ``ids``
    gives each one's (span id, parent id)); the earliest span when the root was never received."""
    known = {span_id for span_id, _ in ids}
    for span, (_, parent_id) in zip(spans, ids, strict=True):
        if not parent_id or parent_id not in known:
            return span
    return spans[0] if spans else None


def conversation(spans: Sequence[dict[str, Any]]) -> str:
    traces: dict[str, list[dict[str, Any]]] = defaultdict(list)  # insertion order = first span's start
    for doc in spans:
        traces[doc["context"]["trace_id"]].append(doc)
    turns = [_turn(trace) for trace in traces.values()]
    return _fit(turns)


def _turn(spans: list[dict[str, Any]]) -> dict[str, Any]:
    root = root_span(spans)
    turn_input = _text(resolve_path(root, "attributes.input.value"))
    turn_output = _text(resolve_path(root, "attributes.output.value"))
    llm = [doc for doc in spans if doc.get("span_kind") == "LLM"]
    if turn_input is None and llm:
        turn_input = _last_message(llm[0], "attributes.llm.input_messages")
    if turn_output is None and llm:
        turn_output = _text(resolve_path(llm[-1], "attributes.llm.output_messages.0.message.content"))
    return {"input": (turn_input or "")[:LIMIT], "output": (turn_output or "")[:LIMIT]}


def _last_message(doc: dict[str, Any], path: str) -> str | None:
    last = None
    for index in range(1000):
        content = resolve_path(doc, f"{path}.{index}.message.content")
        if content is None and resolve_path(doc, f"{path}.{index}") is None:
            break
        last = _text(content) or last
    return last


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _fit(turns: list[dict[str, Any]]) -> str:
    sizes = [len(orjson.dumps(t).decode()) + 1 for t in turns]
    total, dropped = sum(sizes) + 1, 0
    while total > LIMIT - 40 and dropped < len(turns) - 1:  # 40: room for the omitted marker
        total -= sizes[dropped]
        dropped += 1
    kept: list[dict[str, Any]] = turns[dropped:]
    if dropped:
        kept = [{"omitted_turns": dropped}, *kept]
    text = orjson.dumps(kept).decode()
    if len(text) > LIMIT:  # one turn alone is too long: keep the end of it
        last = kept[-1]
        room = max(0, (LIMIT - (len(text) - len(last["input"]) - len(last["output"]))) // 2 - 16)
        kept[-1] = {"input": last["input"][-room:] if room else "", "output": last["output"][:room]}
        text = orjson.dumps(kept).decode()
    return text
