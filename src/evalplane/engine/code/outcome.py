"""What one evaluation of one target produced, and how user return values map to it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Outcome:
    """A successful evaluation: at least a label or a score."""

    label: str | None = None
    score: float | None = None
    explanation: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Failure:
    """An evaluation that could not produce a result, with a reason the user can act on."""

    reason: str


class BadResult(ValueError):
    """The evaluator returned something that is not a result."""


def normalize(value: Any) -> Outcome:
    """Accept the return shapes the ``arize`` SDK accepts from code evaluators.

    A result object or mapping with label/score/explanation; a bool (label and 1/0 score);
    a number (score); a string (label); or a (score, label, explanation) tuple.
    """
    if isinstance(value, Outcome):
        return value
    if isinstance(value, bool):
        return Outcome(label=str(value).lower(), score=1.0 if value else 0.0)
    if isinstance(value, int | float):
        return Outcome(score=_score(value))
    if isinstance(value, str):
        return Outcome(label=value)
    if isinstance(value, tuple) and 1 <= len(value) <= 3:
        score, label, explanation = (*value, None, None)[:3]
        return _checked(_score(score) if score is not None else None, label, explanation, {})
    mapping = value if isinstance(value, dict) else _attributes(value)
    if mapping is None:
        raise BadResult(
            f"an evaluator must return a result, a bool, a number, a string or a tuple, not {type(value).__name__}"
        )
    score = mapping.get("score")
    metadata = mapping.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise BadResult("'metadata' must be a mapping")
    return _checked(
        _score(score) if score is not None else None, mapping.get("label"), mapping.get("explanation"), metadata
    )


def _attributes(value: Any) -> dict[str, Any] | None:
    if all(hasattr(value, name) for name in ("score", "label")):
        return {name: getattr(value, name, None) for name in ("score", "label", "explanation", "metadata")}
    return None


def _score(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if not isinstance(value, int | float) or isinstance(value, float) and not math.isfinite(value):
        raise BadResult(f"the score must be a finite number, not {value!r}")
    return float(value)


def _checked(score: float | None, label: Any, explanation: Any, metadata: dict[str, Any]) -> Outcome:
    label = None if label is None or label == "" else str(label)
    explanation = None if explanation is None or explanation == "" else str(explanation)
    if score is None and label is None:
        raise BadResult("a result needs a score or a label")
    return Outcome(label=label, score=score, explanation=explanation, metadata=dict(metadata))
