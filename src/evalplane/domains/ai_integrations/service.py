"""AI integrations: credentials for LLM providers, and who may see and use them.

An integration is scoped to the whole account, to organizations, or to spaces (one row
per scope in ``ai_integration_scopings``; account-wide is a row with both ids null).
A caller sees account-wide integrations, those scoped to an organization in which they
can see a space, and those scoped to a space they can see. Changing an integration needs
MEMBER or ADMIN in every space it is scoped to; account- or organization-wide scopes
need an account administrator. The provider API key and the custom headers are stored
encrypted and only :func:`load_for_use` ever decrypts them; a ``base_url`` must pass the
egress policy when it is saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from evalplane.core.clock import utcnow
from evalplane.core.cursors import CursorCodec
from evalplane.core.egress import EgressPolicy
from evalplane.core.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    Unprocessable,
)
from evalplane.core.secrets import SecretBox, SecretUnreadable
from evalplane.db.models import AiIntegration, AiIntegrationScoping, Organization, Space
from evalplane.db.paging import Page, PageRequest, paginate
from evalplane.domains import common
from evalplane.domains.access.principal import Level, Principal
from evalplane.domains.ai_integrations.checks import (
    AUTH_TYPES,
    PROVIDERS,
    check_consistency,
    check_reachable,
    clean_base_url,
    clean_headers,
    clean_metadata,
    clean_model_names,
    enum,
)
from evalplane.domains.ai_integrations.credentials import (
    open_headers,
    require_credentials_for_repoint,
    seal_headers,
)

WHAT = "AI integration"


@dataclass(frozen=True, slots=True)
class Scope:
    """One scoping: account-wide (both None), an organization, or a space (with its organization)."""

    organization_id: int | None = None
    space_id: int | None = None


ACCOUNT = Scope()


@dataclass(slots=True)
class IntegrationView:
    integration: AiIntegration
    scopes: list[Scope] = field(default_factory=list)


IntegrationFilters = common.SpaceListFilters


# --------------------------------------------------------------------------------------
# Scopes and access
# --------------------------------------------------------------------------------------


async def _visible_org_ids(session: AsyncSession, principal: Principal) -> set[int] | None:
    spaces = principal.visible_space_ids()
    if spaces is None:
        return None
    if not spaces:
        return set()
    return set((await session.scalars(select(Space.organization_id).where(Space.id.in_(sorted(spaces))))).all())


def _scope_visible(scope: Scope, spaces: set[int] | None, orgs: set[int] | None) -> bool:
    if spaces is None or orgs is None:
        return True
    if scope.space_id is not None:
        return scope.space_id in spaces
    if scope.organization_id is not None:
        return scope.organization_id in orgs
    return True


def _require_manage(principal: Principal, scopes: list[Scope]) -> None:
    """403 unless the caller may change an integration with these scopes."""
    for scope in scopes:
        if scope.space_id is not None:
            if principal.level_in(scope.space_id) < Level.MEMBER:
                raise Forbidden("Changing this AI integration needs MEMBER or ADMIN in every space it is scoped to.")
        elif not principal.is_account_admin:
            raise Forbidden("Account- and organization-wide AI integrations are managed by account administrators.")


async def resolve_scopes(session: AsyncSession, principal: Principal, requested: list[Scope] | None) -> list[Scope]:
    """Check requested scopes exist and are visible; fill in each space's organization."""
    if not requested:
        return [ACCOUNT]
    resolved: list[Scope] = []
    for scope in requested:
        if scope.space_id is not None:
            space = await common.visible_space(session, scope.space_id, principal)
            if scope.organization_id is not None and scope.organization_id != space.organization_id:
                raise InvalidInput("A scoping's space does not belong to its organization.", field="scopings")
            scope = Scope(organization_id=space.organization_id, space_id=space.id)
        elif scope.organization_id is not None:
            if await session.get(Organization, scope.organization_id) is None:
                raise NotFound("Organization was not found.")
            orgs = await _visible_org_ids(session, principal)
            if orgs is not None and scope.organization_id not in orgs:
                raise NotFound("Organization was not found.")
        if scope not in resolved:
            resolved.append(scope)
    if ACCOUNT in resolved and len(resolved) > 1:
        raise InvalidInput("An account-wide scoping cannot be combined with narrower ones.", field="scopings")
    return resolved


def _visibility_clause(spaces: set[int], orgs: set[int]) -> ColumnElement[bool]:
    S = AiIntegrationScoping
    return or_(
        and_(S.organization_id.is_(None), S.space_id.is_(None)),
        S.space_id.in_(sorted(spaces) or [-1]),
        and_(S.space_id.is_(None), S.organization_id.in_(sorted(orgs) or [-1])),
    )


def _usable_in_clause(space_ids: Any, org_ids: Any) -> ColumnElement[bool]:
    """Scopings that make an integration usable in the given spaces (ids or subqueries)."""
    S = AiIntegrationScoping
    return or_(
        and_(S.organization_id.is_(None), S.space_id.is_(None)),
        S.space_id.in_(space_ids),
        and_(S.space_id.is_(None), S.organization_id.in_(org_ids)),
    )


async def _scopes_of(session: AsyncSession, integration_ids: list[int]) -> dict[int, list[Scope]]:
    out: dict[int, list[Scope]] = {i: [] for i in integration_ids}
    if not integration_ids:
        return out
    rows = await session.execute(
        select(AiIntegrationScoping.integration_id, AiIntegrationScoping.organization_id, AiIntegrationScoping.space_id)
        .where(AiIntegrationScoping.integration_id.in_(integration_ids))
        .order_by(AiIntegrationScoping.id)
    )
    for integration_id, org_id, space_id in rows:
        out[integration_id].append(Scope(organization_id=org_id, space_id=space_id))
    return out


async def _visible(session: AsyncSession, principal: Principal, integration_id: int) -> IntegrationView:
    row = await session.get(AiIntegration, integration_id)
    if row is None:
        raise NotFound(f"{WHAT} was not found.")
    scopes = (await _scopes_of(session, [row.id]))[row.id] or [ACCOUNT]
    spaces = principal.visible_space_ids()
    orgs = await _visible_org_ids(session, principal)
    if not any(_scope_visible(s, spaces, orgs) for s in scopes):
        raise NotFound(f"{WHAT} was not found.")
    return IntegrationView(row, scopes)


async def _replace_scopes(session: AsyncSession, integration_id: int, scopes: list[Scope]) -> None:
    await session.execute(delete(AiIntegrationScoping).where(AiIntegrationScoping.integration_id == integration_id))
    for scope in scopes:
        session.add(
            AiIntegrationScoping(
                integration_id=integration_id, organization_id=scope.organization_id, space_id=scope.space_id
            )
        )
    await session.flush()


async def _ensure_unique(session: AsyncSession, name: str, exclude: int | None = None) -> None:
    taken = f"An AI integration named '{name}' already exists."
    await common.ensure_name_free(session, AiIntegration.id, AiIntegration.name, name, exclude=exclude, taken=taken)


# --------------------------------------------------------------------------------------
# Operations
# --------------------------------------------------------------------------------------


async def create(
    session: AsyncSession,
    principal: Principal,
    box: SecretBox,
    *,
    name: str,
    provider: str,
    api_key: str | None = None,
    base_url: str | None = None,
    model_names: list[str] | None = None,
    headers: dict[str, str] | None = None,
    enable_default_models: bool | None = None,
    function_calling_enabled: bool | None = None,
    auth_type: str | None = None,
    provider_metadata: dict[str, Any] | None = None,
    scopes: list[Scope] | None = None,
    egress: EgressPolicy,
) -> IntegrationView:
    resolved = await resolve_scopes(session, principal, scopes)
    _require_manage(principal, resolved)
    name = common.clean_name(name)
    row = AiIntegration(
        name=name,
        provider=enum(provider, PROVIDERS, "provider"),
        base_url=clean_base_url(base_url),
        model_names=clean_model_names(model_names),
        headers=seal_headers(box, clean_headers(headers)),
        api_key_encrypted=box.encrypt(api_key) if api_key else None,
        enable_default_models=bool(enable_default_models) if enable_default_models is not None else False,
        function_calling_enabled=function_calling_enabled if function_calling_enabled is not None else True,
        auth_type=enum(auth_type, AUTH_TYPES, "auth_type") if auth_type is not None else "DEFAULT",
        provider_metadata=clean_metadata(provider_metadata),
        created_by_user_id=principal.user_id,
    )
    check_consistency(row)
    await check_reachable(row.base_url, egress)
    await _ensure_unique(session, name)
    session.add(row)
    await session.flush()
    await _replace_scopes(session, row.id, resolved)
    return IntegrationView(row, resolved)


async def get(session: AsyncSession, principal: Principal, integration_id: int) -> IntegrationView:
    return await _visible(session, principal, integration_id)


# Fields an update may change, and how each is cleaned; None clears nullable ones.
_NULLABLE = {"api_key", "base_url", "headers", "provider_metadata"}


async def update(
    session: AsyncSession,
    principal: Principal,
    box: SecretBox,
    integration_id: int,
    changes: dict[str, Any],
    *,
    egress: EgressPolicy,
) -> IntegrationView:
    """Apply ``changes`` (only the fields the caller sent; an explicit None clears a nullable field)."""
    view = await _visible(session, principal, integration_id)
    _require_manage(principal, view.scopes)
    row = view.integration
    for key, value in changes.items():
        if value is None and key not in _NULLABLE:
            raise InvalidInput(f"'{key}' cannot be null.", field=key)
    spaces = [s.space_id for s in view.scopes if s.space_id is not None]
    require_credentials_for_repoint(principal, box, row, spaces, changes)
    if "base_url" in changes:  # before any change, so no write waits on a name lookup
        await check_reachable(clean_base_url(changes["base_url"]), egress)
    if "scopings" in changes:
        new_scopes = await resolve_scopes(session, principal, changes["scopings"])
        _require_manage(principal, new_scopes)
    else:
        new_scopes = None
    if "name" in changes:
        row.name = common.clean_name(changes["name"])
        await _ensure_unique(session, row.name, exclude=row.id)
    if "provider" in changes:
        row.provider = enum(changes["provider"], PROVIDERS, "provider")
    if "api_key" in changes:
        row.api_key_encrypted = box.encrypt(changes["api_key"]) if changes["api_key"] else None
    if "base_url" in changes:
        row.base_url = clean_base_url(changes["base_url"])
    if "model_names" in changes:
        row.model_names = clean_model_names(changes["model_names"])
    if "headers" in changes:
        row.headers = seal_headers(box, clean_headers(changes["headers"]))
    if "enable_default_models" in changes:
        row.enable_default_models = bool(changes["enable_default_models"])
    if "function_calling_enabled" in changes:
        row.function_calling_enabled = bool(changes["function_calling_enabled"])
    if "auth_type" in changes:
        row.auth_type = enum(changes["auth_type"], AUTH_TYPES, "auth_type")
    if "provider_metadata" in changes:
        row.provider_metadata = clean_metadata(changes["provider_metadata"])
    check_consistency(row)
    row.updated_at = utcnow()
    await session.flush()
    if new_scopes is not None:
        await _replace_scopes(session, row.id, new_scopes)
        view.scopes = new_scopes
    return view


async def remove(session: AsyncSession, principal: Principal, integration_id: int) -> None:
    view = await _visible(session, principal, integration_id)
    _require_manage(principal, view.scopes)
    await session.execute(delete(AiIntegration).where(AiIntegration.id == integration_id))


async def list_integrations(
    session: AsyncSession, principal: Principal, filters: IntegrationFilters, page: PageRequest, codec: CursorCodec
) -> Page[IntegrationView]:
    S = AiIntegrationScoping
    stmt = select(AiIntegration)
    spaces = principal.visible_space_ids()
    if spaces is not None:
        orgs = await _visible_org_ids(session, principal) or set()
        stmt = stmt.where(exists().where(S.integration_id == AiIntegration.id, _visibility_clause(spaces, orgs)))
    if filters.space_id is not None:
        space = await common.visible_space(session, filters.space_id, principal)
        stmt = stmt.where(
            exists().where(S.integration_id == AiIntegration.id, _usable_in_clause([space.id], [space.organization_id]))
        )
    if filters.space_name:
        named = select(Space.id).where(common.contains_ci(Space.name, filters.space_name))
        scope = common.space_scope(Space.id, principal)
        if scope is not None:
            named = named.where(scope)
        named_orgs = select(Space.organization_id).where(Space.id.in_(named))
        stmt = stmt.where(
            exists(named),
            exists().where(S.integration_id == AiIntegration.id, _usable_in_clause(named, named_orgs)),
        )
    if filters.name:
        stmt = stmt.where(common.contains_ci(AiIntegration.name, filters.name))
    raw = {"space_id": filters.space_id, "space_name": filters.space_name, "name": filters.name}
    result = await paginate(
        session,
        stmt,
        AiIntegration.id,
        page,
        codec=codec,
        scope="ai_integrations",
        filters=common.cursor_filters(**raw),
    )
    scopes = await _scopes_of(session, [row.id for row in result.items])
    views = [IntegrationView(row, scopes[row.id] or [ACCOUNT]) for row in result.items]
    return Page(items=views, has_more=result.has_more, next_cursor=result.next_cursor)


async def usable_in_space(
    session: AsyncSession, principal: Principal, integration_id: int, space_id: int
) -> AiIntegration:
    """The integration if the caller can see it and it may be used in ``space_id``; NotFound otherwise."""
    view = await _visible(session, principal, integration_id)
    space = await session.get(Space, space_id)
    if space is None:
        raise NotFound("Space was not found.")
    for scope in view.scopes:
        if scope.space_id is not None:
            if scope.space_id == space.id:
                return view.integration
        elif scope.organization_id is None or scope.organization_id == space.organization_id:
            return view.integration
    raise NotFound(f"{WHAT} was not found in this space.")


async def load_for_use(
    session: AsyncSession, integration_id: int, *, box: SecretBox
) -> tuple[AiIntegration, str | None, dict[str, str]]:
    """For the engine (no caller): the integration, its decrypted API key (None if it has
    none) and its decrypted headers.

    Raises NotFound if the integration was deleted, Unprocessable if the stored key can no
    longer be decrypted (the server secret changed) — both are clear run failures, not retries.
    """
    row = await session.get(AiIntegration, integration_id)
    if row is None:
        raise NotFound(f"{WHAT} {integration_id} no longer exists.")
    headers = open_headers(box, row)
    if row.api_key_encrypted is None:
        return row, None, headers
    try:
        return row, box.decrypt(row.api_key_encrypted), headers
    except SecretUnreadable as exc:
        raise Unprocessable(
            f"The API key of AI integration '{row.name}' cannot be decrypted; was the server secret key changed? "
            "Set the key again on the integration."
        ) from exc
