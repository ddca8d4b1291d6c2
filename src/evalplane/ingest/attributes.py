"""OpenInference attributes: dotted keys become nested objects and lists, values keep their types.

``{"llm.input_messages.0.message.role": "user"}`` becomes
``{"llm": {"input_messages": [{"message": {"role": "user"}}]}}``. An object whose keys are
exactly ``0..n-1`` becomes a list. When one key is also the prefix of another
(``"a"`` and ``"a.b"``), the longer key is kept whole beside the shorter one
(``{"a": 1, "a.b": 2}``), so nothing is lost and the result does not depend on key order.
"""

from __future__ import annotations

from typing import Any


class _Clash(Exception):
    pass


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    try:
        tree = _nest_fast(flat)
    except _Clash:
        tree = _nest_careful(flat)
    return _listify(tree)


def _nest_fast(flat: dict[str, Any]) -> dict[str, Any]:
    """The common case: no key is a prefix of another. Raises _Clash otherwise."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        if type(value) is dict:  # a kvlist value could be mistaken for a branch
            raise _Clash
        if "." not in key:
            if key in root:
                raise _Clash
            root[key] = value
            continue
        parts = key.split(".")
        node = root
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif type(child) is not dict or part == "":
                raise _Clash
            node = child
        last = parts[-1]
        if last in node or last == "":
            raise _Clash
        node[last] = value
    return root


def _nest_careful(flat: dict[str, Any]) -> dict[str, Any]:
    """Order-independent nesting that stops descending where a shorter key already holds a value."""
    keys = set(flat)
    root: dict[str, Any] = {}
    for key in sorted(flat):
        parts = key.split(".")
        node = root
        i = 0
        while i < len(parts) - 1:
            prefix = ".".join(parts[: i + 1])
            if prefix in keys or parts[i] == "":
                break
            child = node.setdefault(parts[i], {})
            if type(child) is not dict:  # a kvlist value sitting where a branch is needed
                break
            node = child
            i += 1
        node[".".join(parts[i:])] = flat[key]
    return root


def _listify(node: Any) -> Any:
    if type(node) is not dict:
        return node
    for key, value in node.items():
        if type(value) is dict:
            node[key] = _listify(value)
    if node and all(key.isdigit() for key in node):
        indexes = sorted(int(key) for key in node)
        if indexes == list(range(len(node))) and all(str(int(k)) == k for k in node):
            return [node[str(i)] for i in range(len(node))]
    return node
