"""Who is acting: the :class:`Principal` every service call carries, the roles, and the system principal of the
command line.

This module sits at the bottom of :mod:`kehu.service` (it imports only the shared vocabulary), so that the
access rules, the services and the facade can all name the actor without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from kehu.config import Settings

__all__ = ["SYSTEM", "Principal", "Service", "Workspace"]


@dataclass(frozen=True)
class Principal:
    """The signed-in user as the rules see them."""

    id: int
    name: str
    display_name: str
    role: str
    team: str | None
    locale: str | None

    def as_dict(self) -> dict[str, Any]:
        """Public fields (for templates and JSON)."""
        return {
            "id": self.id,
            "name": self.name,
            "display_name": self.display_name,
            "role": self.role,
            "team": self.team,
            "locale": self.locale,
        }


#: The command line and the scheduler: an admin's rights, named ``cli`` in audit records (as the command line's
#: default actor is). Its id 0 belongs to no user.
SYSTEM = Principal(id=0, name="cli", display_name="cli", role="admin", team=None, locale=None)


class Workspace(Protocol):
    """What the services need of a workspace (:class:`kehu.service.workspace.Workspace` is one): its settings
    and its store engine. Typing the services by this protocol keeps them from importing the facade above them."""

    @property
    def settings(self) -> Settings: ...

    @property
    def engine(self) -> Engine: ...


class Service:
    """A resource's service bound to one workspace and one actor (see :meth:`Workspace.as_user`)."""

    def __init__(self, ws: Workspace, principal: Principal) -> None:
        self.ws = ws
        self.principal = principal
