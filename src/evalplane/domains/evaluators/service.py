"""Evaluators and their append-only versions.

An evaluator lives in a space and has a type (TEMPLATE or CODE); each version holds one
immutable, normalized configuration of that type. The newest version is the one tasks
use unless they pin another.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.clock import utcnow
from evalplane.core.cursors import CursorCodec
from evalplane.core.errors import Conflict, InvalidInput, NotFound, Unprocessable
from evalplane.db.models import Evaluator, EvaluatorVersion, Task, TaskEvaluator
from evalplane.db.paging import Page, PageRequest, paginate
from evalplane.domains import common
from evalplane.domains.access.principal import Principal
from evalplane.domains.ai_integrations import service as ai_integrations
from evalplane.domains.evaluators import configs

EVALUATOR_TYPES = ("TEMPLATE", "CODE", "HARNESS", "REMOTE")
SUPPORTED_TYPES = (configs.TEMPLATE, configs.CODE)
WHAT = "Evaluator"


@dataclass(frozen=True, slots=True)
class VersionInput:
    """A new version as the caller sent it: its kind and the raw config of that kind."""

    kind: str  # TEMPLATE | CODE | REMOTE
    commit_message: str
    config: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EvaluatorView:
    evaluator: Evaluator
    version: EvaluatorVersion


EvaluatorFilters = common.SpaceListFilters


def _clean_commit_message(message: Any) -> str:
    if not isinstance(message, str) or not message.strip():
        raise InvalidInput("'commit_message' must be a non-empty string.", field="commit_message")
    if len(message) > 1000:
        raise InvalidInput("'commit_message' must be at most 1000 characters.", field="commit_message")
    return message.strip()


def _commit_hash(evaluator_id: int, config: dict[str, Any]) -> str:
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(f"{evaluator_id}:{secrets.token_hex(8)}:{canonical}".encode()).hexdigest()


async def _ensure_unique(session: AsyncSession, space_id: int, name: str, exclude: int | None = None) -> None:
    taken = f"An evaluator named '{name}' already exists in this space."
    await common.ensure_name_free(
        session, Evaluator.id, Evaluator.name, name, Evaluator.space_id == space_id, exclude=exclude, taken=taken
    )


async def _normalize(
    session: AsyncSession, principal: Principal, evaluator_type: str, space_id: int, version: VersionInput
) -> dict[str, Any]:
    if version.kind != evaluator_type:
        raise InvalidInput(
            f"This is a {evaluator_type} evaluator; its versions need a "
            f"{'template_config' if evaluator_type == configs.TEMPLATE else 'code_config'}.",
            field="version",
        )
    if evaluator_type == configs.TEMPLATE:
        config = configs.normalize_template(version.config)
        await ai_integrations.usable_in_space(session, principal, config["llm"]["ai_integration_id"], space_id)
        return config
    return configs.normalize_code(version.config)


async def _add_version(
    session: AsyncSession, principal: Principal, evaluator: Evaluator, version: VersionInput
) -> EvaluatorVersion:
    config = await _normalize(session, principal, evaluator.type, evaluator.space_id, version)
    row = EvaluatorVersion(
        evaluator_id=evaluator.id,
        commit_hash=_commit_hash(evaluator.id, config),
        commit_message=_clean_commit_message(version.commit_message),
        config=config,
        created_by_user_id=principal.user_id,
    )
    session.add(row)
    await session.flush()
    return row


async def _visible(session: AsyncSession, principal: Principal, evaluator_id: int) -> Evaluator:
    return await common.get_visible(session, Evaluator, evaluator_id, principal, WHAT)


async def _latest_version(session: AsyncSession, evaluator_id: int) -> EvaluatorVersion:
    row = await session.scalar(
        select(EvaluatorVersion)
        .where(EvaluatorVersion.evaluator_id == evaluator_id)
        .order_by(EvaluatorVersion.id.desc())
        .limit(1)
    )
    if row is None:  # every write path keeps at least one version
        raise NotFound("The evaluator has no versions.")
    return row


def _parse_type(value: Any) -> str:
    if not isinstance(value, str) or value.strip().upper() not in EVALUATOR_TYPES:
        raise InvalidInput(f"'type' must be one of: {', '.join(EVALUATOR_TYPES)}.", field="type")
    evaluator_type = value.strip().upper()
    if evaluator_type not in SUPPORTED_TYPES:
        raise Unprocessable(f"{evaluator_type} evaluators are not supported by this server; use TEMPLATE or CODE.")
    return evaluator_type


async def create(
    session: AsyncSession,
    principal: Principal,
    *,
    space_id: int,
    name: str,
    type: str,
    version: VersionInput,
    description: str | None = None,
) -> EvaluatorView:
    await common.visible_space(session, space_id, principal)
    principal.require_write(space_id, "Space")
    evaluator_type = _parse_type(type)
    name = common.clean_name(name)
    await _ensure_unique(session, space_id, name)
    evaluator = Evaluator(
        space_id=space_id,
        name=name,
        description=description,
        type=evaluator_type,
        created_by_user_id=principal.user_id,
    )
    session.add(evaluator)
    await session.flush()
    row = await _add_version(session, principal, evaluator, version)
    return EvaluatorView(evaluator, row)


async def get(
    session: AsyncSession, principal: Principal, evaluator_id: int, version_id: int | None = None
) -> EvaluatorView:
    evaluator = await _visible(session, principal, evaluator_id)
    if version_id is None:
        return EvaluatorView(evaluator, await _latest_version(session, evaluator.id))
    version = await session.get(EvaluatorVersion, version_id)
    if version is None or version.evaluator_id != evaluator.id:
        raise NotFound("Evaluator version was not found for this evaluator.")
    return EvaluatorView(evaluator, version)


async def update_evaluator(
    session: AsyncSession, principal: Principal, evaluator_id: int, changes: dict[str, Any]
) -> Evaluator:
    """``changes`` holds only the fields sent: ``name`` and/or ``description`` (None clears it)."""
    evaluator = await _visible(session, principal, evaluator_id)
    principal.require_write(evaluator.space_id, WHAT)
    if "name" in changes:
        name = common.clean_name(changes["name"])
        await _ensure_unique(session, evaluator.space_id, name, exclude=evaluator.id)
        evaluator.name = name
    if "description" in changes:
        evaluator.description = changes["description"]
    evaluator.updated_at = utcnow()
    await session.flush()
    return evaluator


async def remove(session: AsyncSession, principal: Principal, evaluator_id: int) -> None:
    evaluator = await _visible(session, principal, evaluator_id)
    principal.require_write(evaluator.space_id, WHAT)
    used_by = (
        await session.scalars(
            select(Task.name)
            .join(TaskEvaluator, TaskEvaluator.task_id == Task.id)
            .where(TaskEvaluator.evaluator_id == evaluator.id)
            .order_by(Task.id)
            .limit(5)
        )
    ).all()
    if used_by:
        names = ", ".join(f"'{n}'" for n in used_by)
        raise Conflict(f"The evaluator is used by task(s) {names}; remove it from them first.")
    await session.execute(delete(Evaluator).where(Evaluator.id == evaluator.id))


async def list_evaluators(
    session: AsyncSession, principal: Principal, filters: EvaluatorFilters, page: PageRequest, codec: CursorCodec
) -> Page[Evaluator]:
    return await common.list_in_spaces(session, principal, Evaluator, filters, page, codec, scope="evaluators")


async def create_version(
    session: AsyncSession, principal: Principal, evaluator_id: int, version: VersionInput
) -> EvaluatorVersion:
    evaluator = await _visible(session, principal, evaluator_id)
    principal.require_write(evaluator.space_id, WHAT)
    row = await _add_version(session, principal, evaluator, version)
    evaluator.updated_at = utcnow()
    await session.flush()
    return row


async def list_versions(
    session: AsyncSession, principal: Principal, evaluator_id: int, page: PageRequest, codec: CursorCodec
) -> Page[EvaluatorVersion]:
    evaluator = await _visible(session, principal, evaluator_id)
    stmt = select(EvaluatorVersion).where(EvaluatorVersion.evaluator_id == evaluator.id)
    return await paginate(
        session,
        stmt,
        EvaluatorVersion.id,
        page,
        codec=codec,
        scope="evaluator_versions",
        filters={"evaluator_id": evaluator.id},
    )


async def get_version(session: AsyncSession, principal: Principal, version_id: int) -> EvaluatorVersion:
    version = await session.get(EvaluatorVersion, version_id)
    if version is None:
        raise NotFound("Evaluator version was not found.")
    evaluator = await session.get(Evaluator, version.evaluator_id)
    if evaluator is None or not principal.can_see(evaluator.space_id):
        raise NotFound("Evaluator version was not found.")
    return version


async def delete_versions(
    session: AsyncSession, principal: Principal, evaluator_id: int, requested: list[int]
) -> tuple[list[int], list[int]]:
    """Delete those of ``requested`` that belong to the evaluator; return (deleted, not deleted).

    At least one version must remain (409). Tasks pinned to a deleted version fall back to
    the latest one.
    """
    evaluator = await _visible(session, principal, evaluator_id)
    principal.require_write(evaluator.space_id, WHAT)
    wanted = list(dict.fromkeys(requested))
    owned = set(
        (
            await session.scalars(
                select(EvaluatorVersion.id).where(
                    EvaluatorVersion.evaluator_id == evaluator.id, EvaluatorVersion.id.in_(wanted or [-1])
                )
            )
        ).all()
    )
    total = await session.scalar(
        select(func.count()).select_from(EvaluatorVersion).where(EvaluatorVersion.evaluator_id == evaluator.id)
    )
    if owned and len(owned) >= (total or 0):
        raise Conflict("An evaluator keeps at least one version; delete the evaluator instead.")
    if owned:
        await session.execute(
            update(TaskEvaluator).where(TaskEvaluator.evaluator_version_id.in_(owned)).values(evaluator_version_id=None)
        )
        await session.execute(delete(EvaluatorVersion).where(EvaluatorVersion.id.in_(owned)))
        evaluator.updated_at = utcnow()
        await session.flush()
    return [v for v in wanted if v in owned], [v for v in wanted if v not in owned]
