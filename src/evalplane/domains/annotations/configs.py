"""Annotation configs: the named kinds of human annotation a space accepts, and the check of
one annotation value against its config.

- CATEGORICAL: a label chosen from ``values`` (2 to 500 distinct labels, each with an optional
  score); an annotation's score, when left out, is the chosen label's.
- CONTINUOUS: a score within ``[minimum_score, maximum_score]``.
- FREEFORM: free text.
Any annotation may also carry ``text`` (a note). Reading needs a role in the space; creating,
changing and deleting need MEMBER or ADMIN there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.cursors import CursorCodec
from evalplane.core.errors import InvalidInput, Unprocessable
from evalplane.db.models import AnnotationConfig
from evalplane.db.paging import Page, PageRequest
from evalplane.domains import common
from evalplane.domains.access.principal import Principal

CATEGORICAL, CONTINUOUS, FREEFORM = "CATEGORICAL", "CONTINUOUS", "FREEFORM"
TYPES = (CATEGORICAL, CONTINUOUS, FREEFORM)
DIRECTIONS = ("MAXIMIZE", "MINIMIZE", "NONE")
MIN_VALUES, MAX_VALUES = 2, 500
LABEL_MAX = 1024  # the span_annotations.label column
WHAT = "Annotation config"
UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class CategoricalValue:
    label: str
    score: float | None = None


@dataclass(frozen=True, slots=True)
class ConfigChanges:
    """What a create or an update sends; ``UNSET`` fields were not sent."""

    name: Any = UNSET
    values: Any = UNSET  # list[CategoricalValue] | None
    minimum_score: Any = UNSET
    maximum_score: Any = UNSET
    optimization_direction: Any = UNSET


def config_type(value: Any, field: str = "annotation_config_type") -> str:
    text = value.strip().upper() if isinstance(value, str) else ""
    if text not in TYPES:
        raise InvalidInput(f"'{field}' must be one of {', '.join(TYPES)}.", field=field)
    return text


def _direction(value: Any) -> str:
    if value is None:
        return "NONE"
    text = value.strip().upper() if isinstance(value, str) else ""
    if text not in DIRECTIONS:
        raise InvalidInput(
            f"'optimization_direction' must be one of {', '.join(DIRECTIONS)}.", field="optimization_direction"
        )
    return text


def _finite(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise InvalidInput(f"'{field}' must be a finite number.", field=field)
    return float(value)


def _values(values: Any) -> list[dict[str, Any]]:
    if not isinstance(values, list) or not MIN_VALUES <= len(values) <= MAX_VALUES:
        raise InvalidInput(
            f"'values' must list {MIN_VALUES} to {MAX_VALUES} labels for a CATEGORICAL config.", field="values"
        )
    seen: set[str] = set()
    out = []
    for i, value in enumerate(values):
        label = value.label.strip() if isinstance(value.label, str) else ""
        if not label or len(label) > LABEL_MAX:
            raise InvalidInput(f"'values[{i}].label' must be 1 to {LABEL_MAX} characters.", field="values")
        if label in seen:
            raise InvalidInput(f"'values' names the label '{label}' twice.", field="values")
        seen.add(label)
        score = None if value.score is None else _finite(value.score, f"values[{i}].score")
        out.append({"label": label, "score": score})
    return out


def _refuse_foreign(kind: str, changes: ConfigChanges) -> None:
    allowed = {
        CATEGORICAL: {"values", "optimization_direction"},
        CONTINUOUS: {"minimum_score", "maximum_score", "optimization_direction"},
        FREEFORM: set(),
    }[kind]
    for field in ("values", "minimum_score", "maximum_score", "optimization_direction"):
        if getattr(changes, field) is not UNSET and getattr(changes, field) is not None and field not in allowed:
            raise InvalidInput(f"'{field}' does not apply to a {kind} annotation config.", field=field)


def _apply(config: AnnotationConfig, changes: ConfigChanges) -> None:
    """Checks and applies the fields of ``changes`` that were sent, for the config's type."""
    _refuse_foreign(config.config_type, changes)
    if changes.name is not UNSET:
        config.name = common.clean_name(changes.name)
    if changes.optimization_direction is not UNSET and config.config_type != FREEFORM:
        config.optimization_direction = _direction(changes.optimization_direction)
    if config.config_type == CATEGORICAL and changes.values is not UNSET:
        config.values = _values(changes.values)
    if config.config_type == CONTINUOUS:
        for field in ("minimum_score", "maximum_score"):
            value = getattr(changes, field)
            if value is not UNSET:
                setattr(config, field, _finite(value, field))
        low, high = config.minimum_score, config.maximum_score
        if low is None or high is None:
            raise InvalidInput("A CONTINUOUS config needs 'minimum_score' and 'maximum_score'.", field="minimum_score")
        if low >= high:
            raise InvalidInput("'minimum_score' must be below 'maximum_score'.", field="minimum_score")
    if config.config_type == CATEGORICAL and config.values is None:
        raise InvalidInput("A CATEGORICAL config needs 'values'.", field="values")


async def _ensure_unique(session: AsyncSession, space_id: int, name: str, exclude: int | None = None) -> None:
    await common.ensure_name_free(
        session,
        AnnotationConfig.id,
        AnnotationConfig.name,
        name,
        AnnotationConfig.space_id == space_id,
        exclude=exclude,
        taken=f"An annotation config named '{name}' already exists in this space.",
    )


async def create(
    session: AsyncSession, principal: Principal, *, space_id: int, kind: str, changes: ConfigChanges
) -> AnnotationConfig:
    await common.visible_space(session, space_id, principal)
    principal.require_write(space_id, "Space")
    config = AnnotationConfig(space_id=space_id, config_type=kind, optimization_direction="NONE")
    _apply(config, changes)
    await _ensure_unique(session, space_id, config.name)
    session.add(config)
    await session.flush()
    return config


async def get(session: AsyncSession, principal: Principal, config_id: int) -> AnnotationConfig:
    return await common.get_visible(session, AnnotationConfig, config_id, principal, WHAT)


async def update(
    session: AsyncSession, principal: Principal, config_id: int, *, kind: str, changes: ConfigChanges
) -> AnnotationConfig:
    config = await get(session, principal, config_id)
    principal.require_write(config.space_id, WHAT)
    if kind != config.config_type:
        raise Unprocessable(
            f"This annotation config is {config.config_type}; its type cannot change "
            f"(send annotation_config_type {config.config_type})."
        )
    _apply(config, changes)
    await _ensure_unique(session, config.space_id, config.name, exclude=config.id)
    await session.flush()
    return config


async def remove(session: AsyncSession, principal: Principal, config_id: int) -> None:
    config = await get(session, principal, config_id)
    principal.require_write(config.space_id, WHAT)
    await session.delete(config)
    await session.flush()


async def list_configs(
    session: AsyncSession, principal: Principal, filters: common.SpaceListFilters, page: PageRequest, codec: CursorCodec
) -> Page[AnnotationConfig]:
    return await common.list_in_spaces(
        session, principal, AnnotationConfig, filters, page, codec, scope="annotation_configs"
    )


async def configs_named(session: AsyncSession, space_id: int, names: set[str]) -> dict[str, AnnotationConfig]:
    """The space's configs with these names (those that exist)."""
    if not names:
        return {}
    rows = await session.scalars(
        select(AnnotationConfig).where(AnnotationConfig.space_id == space_id, AnnotationConfig.name.in_(sorted(names)))
    )
    return {config.name: config for config in rows}


def checked_value(
    config: AnnotationConfig | None, name: str, label: str | None, score: float | None, text: str | None
) -> tuple[str | None, float | None, str | None]:
    """The annotation as stored, or ``Unprocessable`` saying how it breaks its config."""
    if config is None:
        raise Unprocessable(f"There is no annotation config named '{name}' in this space; create it first.")
    if label is None and score is None and text is None:
        raise InvalidInput(f"Annotation '{name}' needs a label, a score or a text.", field="annotations")
    if score is not None:
        score = _finite(score, f"{name}.score")
    if config.config_type == CATEGORICAL:
        if label is None:
            raise Unprocessable(f"Annotation '{name}' is CATEGORICAL: send a 'label'.")
        by_label = {v["label"]: v.get("score") for v in config.values or []}
        if label not in by_label:
            raise Unprocessable(
                f"'{label}' is not a label of annotation config '{name}' (labels: {', '.join(sorted(by_label))})."
            )
        if score is None:
            score = by_label[label]
        elif by_label[label] is not None and score != by_label[label]:
            raise Unprocessable(f"Label '{label}' of '{name}' has the score {by_label[label]}, not {score}.")
    elif config.config_type == CONTINUOUS:
        if label is not None:
            raise Unprocessable(f"Annotation '{name}' is CONTINUOUS: send a 'score', not a 'label'.")
        if score is None:
            raise Unprocessable(f"Annotation '{name}' is CONTINUOUS: send a 'score'.")
        low, high = config.minimum_score, config.maximum_score
        if low is not None and high is not None and not low <= score <= high:
            raise Unprocessable(f"The score of '{name}' must be between {low:g} and {high:g}; got {score:g}.")
    else:
        if label is not None or score is not None:
            raise Unprocessable(f"Annotation '{name}' is FREEFORM: send a 'text' only.")
    if label is not None and len(label) > LABEL_MAX:
        raise InvalidInput(f"The label of '{name}' is longer than {LABEL_MAX} characters.", field="annotations")
    return label, score, text
