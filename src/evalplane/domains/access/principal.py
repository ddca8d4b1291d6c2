"""The authenticated caller and what they may see and do.

Access comes from role bindings, each of which maps to one :class:`Level`:

* An account ADMIN sees and may change everything.
* A SPACE binding grants its level on the space and everything in it: READ_ONLY reads,
  MEMBER also writes, ADMIN also manages the space and its members.
* A PROJECT binding grants its level on that one project only (reading it at any level,
  renaming or deleting it at MEMBER or above, managing its bindings at ADMIN). The
  project's space becomes *navigable*: it appears in the spaces list and can be fetched,
  and listing the space's projects shows the bound project, so the SDK can resolve names.
  Nothing else in that space becomes visible, and writes to the space itself are 403.
* An organization membership (as in Arize AX; stored as an ORGANIZATION binding): ADMIN
  is admin of every space in the organization; any other level is the fallback role in its
  public spaces. ADMIN and MEMBER may create spaces there; READ_ONLY may not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from evalplane.core.errors import Forbidden, NotFound


class Level(IntEnum):
    """Access levels on a space, ordered so that a higher level includes the lower ones."""

    NONE = 0
    READ_ONLY = 1
    MEMBER = 2
    ADMIN = 3

    @classmethod
    def parse(cls, name: str) -> Level:
        return cls.__members__.get(name.upper(), cls.NONE)


@dataclass(frozen=True, slots=True)
class Principal:
    """A user (or a service key's bot user) resolved from an API key."""

    user_id: int
    api_key_id: int | None
    is_account_admin: bool
    space_levels: dict[int, Level] = field(default_factory=dict)
    # Levels granted by PROJECT bindings, by project id, and the space each project is in.
    project_levels: dict[int, Level] = field(default_factory=dict)
    project_spaces: dict[int, int] = field(default_factory=dict)
    # Levels granted by ORGANIZATION bindings, by organization id.
    organization_levels: dict[int, Level] = field(default_factory=dict)

    # --- spaces -------------------------------------------------------------------------

    def visible_space_ids(self) -> set[int] | None:
        """The spaces whose whole contents this caller can read, or None meaning every space."""
        if self.is_account_admin:
            return None
        return {space_id for space_id, level in self.space_levels.items() if level > Level.NONE}

    def navigable_space_ids(self) -> set[int] | None:
        """Visible spaces plus the spaces of bound projects, or None meaning every space."""
        visible = self.visible_space_ids()
        if visible is None:
            return None
        return visible | set(self.project_spaces.values())

    def level_in(self, space_id: int) -> Level:
        if self.is_account_admin:
            return Level.ADMIN
        return self.space_levels.get(space_id, Level.NONE)

    def can_see(self, space_id: int) -> bool:
        return self.level_in(space_id) > Level.NONE

    def can_navigate(self, space_id: int) -> bool:
        return self.can_see(space_id) or space_id in self.project_spaces.values()

    def _require(self, level: Level, needed: Level, visible: bool, what: str, message: str) -> None:
        if not visible:
            raise NotFound(f"{what} was not found.")
        if level < needed:
            raise Forbidden(message)

    def require_read(self, space_id: int, what: str) -> None:
        if not self.can_see(space_id):
            raise NotFound(f"{what} was not found.")

    def require_navigate(self, space_id: int, what: str) -> None:
        if not self.can_navigate(space_id):
            raise NotFound(f"{what} was not found.")

    def require_write(self, space_id: int, what: str) -> None:
        """Writers are MEMBER or ADMIN; a caller who can see the space but not write gets 403."""
        self._require(
            self.level_in(space_id),
            Level.MEMBER,
            self.can_navigate(space_id),
            what,
            "Your role in this space does not allow changes; this operation needs MEMBER or ADMIN.",
        )

    def require_admin(self, space_id: int, what: str) -> None:
        self._require(
            self.level_in(space_id),
            Level.ADMIN,
            self.can_navigate(space_id),
            what,
            "This operation needs the ADMIN role in the space.",
        )

    def require_account_admin(self) -> None:
        if not self.is_account_admin:
            raise Forbidden("This operation needs an account administrator.")

    # --- organizations --------------------------------------------------------------------

    def organization_level(self, org_id: int) -> Level:
        if self.is_account_admin:
            return Level.ADMIN
        return self.organization_levels.get(org_id, Level.NONE)

    def require_space_creation(self, org_id: int) -> None:
        """Creating a space takes the ADMIN or MEMBER role in its organization (or account ADMIN)."""
        if self.organization_level(org_id) < Level.MEMBER:
            raise Forbidden("Creating a space needs the ADMIN or MEMBER role in its organization.")

    def require_organization_admin(self, org_id: int) -> None:
        if self.organization_level(org_id) < Level.ADMIN:
            raise Forbidden("This operation needs the ADMIN role in the organization.")

    # --- projects -----------------------------------------------------------------------

    def visible_project_ids(self) -> set[int]:
        """Projects readable through PROJECT bindings (on top of whole visible spaces)."""
        return {project_id for project_id, level in self.project_levels.items() if level > Level.NONE}

    def project_level(self, project_id: int, space_id: int) -> Level:
        return max(self.level_in(space_id), self.project_levels.get(project_id, Level.NONE))

    def require_project_read(self, project_id: int, space_id: int, what: str = "Project") -> None:
        if self.project_level(project_id, space_id) == Level.NONE:
            raise NotFound(f"{what} was not found.")

    def require_project_write(self, project_id: int, space_id: int, what: str = "Project") -> None:
        level = self.project_level(project_id, space_id)
        self._require(
            level,
            Level.MEMBER,
            level > Level.NONE,
            what,
            "Your role on this project does not allow changes; this operation needs MEMBER or ADMIN.",
        )

    def require_project_admin(self, project_id: int, space_id: int, what: str = "Project") -> None:
        level = self.project_level(project_id, space_id)
        self._require(
            level, Level.ADMIN, level > Level.NONE, what, "This operation needs the ADMIN role on the project."
        )
