"""The managed (built-in) code evaluators: what inputs and parameters each one takes.

The engine implements them; this module is the contract checked when a version is saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalplane.core import user_regex
from evalplane.core.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    types: tuple[str, ...]  # accepted static param types; the first is the canonical one
    required: bool = True


@dataclass(frozen=True, slots=True)
class Managed:
    summary: str
    min_variables: int
    max_variables: int
    params: tuple[Param, ...] = ()


REGISTRY: dict[str, Managed] = {
    "MATCHES_REGEX": Managed(
        "Passes when the input contains a match of the regular expression 'pattern'.",
        1,
        1,
        (Param("pattern", ("REGEX", "STRING")),),
    ),
    "JSON_PARSEABLE": Managed("Passes when the input is a valid JSON document.", 1, 1),
    "CONTAINS_ANY_KEYWORD": Managed(
        "Passes when the input contains at least one of 'keywords' (case-insensitive).",
        1,
        1,
        (Param("keywords", ("STRING_ARRAY",)),),
    ),
    "CONTAINS_ALL_KEYWORDS": Managed(
        "Passes when the input contains every one of 'keywords' (case-insensitive).",
        1,
        1,
        (Param("keywords", ("STRING_ARRAY",)),),
    ),
    "EXACT_MATCH": Managed(
        "Passes when the input equals the second variable, or the 'expected' string when only one is mapped.",
        1,
        2,
        (Param("expected", ("STRING",), required=False),),
    ),
}


def check(which: str, variables: list[str], params: list[dict[str, Any]]) -> None:
    """Raise InvalidInput unless the variables and static params fit the managed evaluator."""
    spec = REGISTRY[which]
    count = len(variables)
    if not spec.min_variables <= count <= spec.max_variables:
        wanted = (
            str(spec.min_variables)
            if spec.min_variables == spec.max_variables
            else f"{spec.min_variables} to {spec.max_variables}"
        )
        raise InvalidInput(f"{which} takes {wanted} variable(s); {count} were given.", field="variables")
    known = {p.name: p for p in spec.params}
    given = {p["name"]: p for p in params}
    unknown = sorted(set(given) - set(known))
    if unknown:
        allowed = ", ".join(known) or "none"
        raise InvalidInput(
            f"{which} does not take static param(s) {', '.join(unknown)} (allowed: {allowed}).", field="static_params"
        )
    for param in spec.params:
        value = given.get(param.name)
        if value is None:
            if param.required:
                raise InvalidInput(f"{which} needs the static param '{param.name}'.", field="static_params")
            continue
        if value["type"] not in param.types:
            raise InvalidInput(
                f"Static param '{param.name}' of {which} must have type {param.types[0]}.", field="static_params"
            )
        if param.types[0] == "STRING_ARRAY" and not [v for v in value["default_value"] if v.strip()]:
            raise InvalidInput(
                f"Static param '{param.name}' of {which} needs at least one keyword.", field="static_params"
            )
        if param.types[0] == "REGEX" and value["type"] == "STRING":
            try:  # the engine matches with RE2, so the pattern must be one RE2 accepts
                user_regex.compile_regex(value["default_value"])
            except user_regex.RegexError as exc:
                raise InvalidInput(
                    f"Static param '{param.name}' is not a valid regular expression: {exc}.", field="static_params"
                ) from None
    if which == "EXACT_MATCH":
        has_expected = "expected" in given
        if count == 1 and not has_expected:
            raise InvalidInput(
                "EXACT_MATCH with one variable needs the static param 'expected'; or map two variables.",
                field="static_params",
            )
        if count == 2 and has_expected:
            raise InvalidInput(
                "EXACT_MATCH compares its two variables; drop 'expected' or map one variable.", field="static_params"
            )
