"""OpenInference attributes: dotted keys become nested objects and lists, values keep their types.

``{"llm.input_messages.0.message.role": "user"}`` becomes
``{"llm": {"input_messages": [{"message": {"role": "user"}}]}}``. An object whose keys are
exactly ``0..n-1`` becomes a list. When one key is also the prefix of another
(``"a"`` and ``"a.b"``), the longer key is kept whole beside the shorter one
(``{"a": 1, "a.b": 2}``), so nothing is lost and the result does not depend on key order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


class _Clash(Exception):
    pass


# ---------------------------------------------------------------- compiled shapes
#
# Spans from one instrumentation carry the same attribute keys in the same order, span after
# span. The nested shape depends only on the keys (values are placed at leaves), so it is
# worked out once per key sequence and turned into a function that builds the nested value
# from the list of values as one literal: no splitting, no dict walking per span.

_SHAPES: dict[tuple[str, ...], Callable[[Sequence[Any]], dict[str, Any]] | None] = {}
_SHAPES_MAX = 4096
_SHAPE_MAX_KEYS = 512
_SHAPE_MAX_DEPTH = 48  # well under the parser's nesting limit


class _Slot:
    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


def _emit(node: Any, depth: int) -> str:
    if depth > _SHAPE_MAX_DEPTH:
        raise _Clash
    if type(node) is _Slot:
        return f"v[{node.index}]"
    if type(node) is list:
        return "[" + ",".join(_emit(item, depth + 1) for item in node) + "]"
    # Keys enter the source only through repr(), which always yields a plain string literal.
    return "{" + ",".join(f"{key!r}:{_emit(value, depth + 1)}" for key, value in node.items()) + "}"


def _compile(keys: tuple[str, ...]) -> Callable[[Sequence[Any]], dict[str, Any]] | None:
    if len(keys) > _SHAPE_MAX_KEYS or len(set(keys)) != len(keys):
        return None
    try:
        tree = _nest_fast({key: _Slot(i) for i, key in enumerate(keys)})
        source = "lambda v: " + _emit(tree, 0)
    except _Clash:
        return None  # keys that are prefixes of others, empty parts, very deep paths
    return eval(source, {"__builtins__": {}})


def nest(keys: tuple[str, ...], values: Sequence[Any]) -> dict[str, Any]:
    """``unflatten(dict(zip(keys, values)))``, fast when the same keys come again.

    No value may be a dict (an OTLP kvlist): those take ``unflatten``, whose result can
    depend on them.
    """
    try:
        build = _SHAPES[keys]
    except KeyError:
        build = _compile(keys)
        if len(_SHAPES) < _SHAPES_MAX:
            _SHAPES[keys] = build
    if build is None:
        return unflatten(dict(zip(keys, values, strict=True)))
    return build(values)


# Attribute keys repeat from span to span: split each one once.
_SPLIT_CACHE: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {}
_SPLIT_CACHE_MAX = 100_000


def _split(key: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The key's parts, and the depths whose part is a list index candidate (all digits)."""
    found = _SPLIT_CACHE.get(key)
    if found is None:
        parts = tuple(key.split("."))
        found = (parts, tuple(i for i, part in enumerate(parts) if part.isdigit()))
        if len(_SPLIT_CACHE) < _SPLIT_CACHE_MAX:
            _SPLIT_CACHE[key] = found
    return found


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    try:
        return _nest_fast(flat)
    except _Clash:
        return _listify(_nest_careful(flat))


def _nest_fast(flat: dict[str, Any]) -> dict[str, Any]:
    """The common case: no key is a prefix of another. Raises _Clash otherwise.

    Only objects that received an all-digit key are considered for turning into lists.
    """
    root: dict[str, Any] = {}
    candidates: dict[int, tuple[int, dict[str, Any], str, dict[str, Any]]] = {}
    for key, value in flat.items():
        if type(value) is dict:  # a kvlist value could be mistaken for a branch
            raise _Clash
        if "." not in key:
            if key in root:
                raise _Clash
            root[key] = value
            continue
        parts, digit_depths = _split(key)
        parent: dict[str, Any] = root
        node = root
        depth = 0
        last = len(parts) - 1
        while depth < last:
            part = parts[depth]
            child = node.get(part)
            if child is None:
                if not part:
                    raise _Clash
                child = node[part] = {}
            elif type(child) is not dict:
                raise _Clash
            parent, node = node, child
            depth += 1
            if depth in digit_depths and id(node) not in candidates:
                candidates[id(node)] = (depth, parent, part, node)
        leaf = parts[last]
        if leaf in node or not leaf:
            raise _Clash
        node[leaf] = value
        if last in digit_depths and id(node) not in candidates and node is not root:
            candidates[id(node)] = (last, parent, parts[last - 1], node)
    # Deepest first, so a list's elements are final before the list is built.
    for _depth, parent, key, node in sorted(candidates.values(), key=lambda c: -c[0]):
        as_list = _as_list(node)
        if as_list is not None:
            parent[key] = as_list
    return root


def _as_list(node: dict[str, Any]) -> list[Any] | None:
    size = len(node)
    for key in node:
        # ASCII only: int() refuses digits such as '²' that str.isdigit() accepts
        if not (key.isascii() and key.isdigit()) or (len(key) > 1 and key[0] == "0") or int(key) >= size:
            return None
    return [node[str(i)] for i in range(size)]


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
    if node:
        as_list = _as_list(node)
        if as_list is not None:
            return as_list
    return node
