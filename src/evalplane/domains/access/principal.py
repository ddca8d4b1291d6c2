"""The authenticated caller and what they may see and do."""

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
    # Spaces reached only through a project binding: readable, not writable.
    project_levels: dict[int, Level] = field(default_factory=dict)

    def visible_space_ids(self) -> set[int] | None:
        """The spaces this caller can read, or None meaning every space."""
        if self.is_account_admin:
            return None
        return {space_id for space_id, level in self.space_levels.items() if level > Level.NONE}

    def level_in(self, space_id: int) -> Level:
        if self.is_account_admin:
            return Level.ADMIN
        return self.space_levels.get(space_id, Level.NONE)

    def can_see(self, space_id: int) -> bool:
        return self.level_in(space_id) > Level.NONE

    def require_read(self, space_id: int, what: str) -> None:
        if not self.can_see(space_id):
            raise NotFound(f"{what} was not found.")

    def require_write(self, space_id: int, what: str) -> None:
        """Writers are MEMBER or ADMIN; a READ_ONLY caller sees the resource but gets 403."""
        level = self.level_in(space_id)
        if level == Level.NONE:
            raise NotFound(f"{what} was not found.")
        if level < Level.MEMBER:
            raise Forbidden("Your role in this space is read-only; this operation needs MEMBER or ADMIN.")

    def require_admin(self, space_id: int, what: str) -> None:
        level = self.level_in(space_id)
        if level == Level.NONE:
            raise NotFound(f"{what} was not found.")
        if level < Level.ADMIN:
            raise Forbidden("This operation needs the ADMIN role in the space.")

    def require_account_admin(self) -> None:
        if not self.is_account_admin:
            raise Forbidden("This operation needs an account administrator.")
