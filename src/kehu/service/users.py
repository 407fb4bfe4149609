"""Users as the actor may see and manage them: the list (an admin: everyone; a manager: their team; a rep:
themselves), creating and updating users and resetting passwords (admins), and the actor's own language and API
tokens. The rules themselves (roles, password hashing, sessions) are those of :mod:`kehu.service.access`."""

from __future__ import annotations

from typing import Any

from kehu.service import access
from kehu.service.principal import Service
from kehu.store.db import ensure_current

__all__ = ["UserService"]


class UserService(Service):
    """The users the actor may see, and the actor's own account."""

    def add(
        self,
        name: str,
        *,
        role: str = "rep",
        team: str | None = None,
        display_name: str | None = None,
        email: str | None = None,
    ) -> int:
        """Create a user without a password, or update role/team of an existing one (admins)."""
        ensure_current(self.ws.engine)
        return self.create(name, role=role, team=team, display_name=display_name, email=email)

    def all(self) -> list[dict[str, Any]]:
        """Users the actor may see (without password hashes), by id."""
        return access.list_users(self.ws, self.principal)

    def get(self, user_id: int) -> dict[str, Any] | None:
        """One user the actor may see, or ``None``."""
        return next((u for u in self.all() if u["id"] == user_id), None)

    def create(
        self,
        name: str,
        *,
        role: str,
        password: str | None = None,
        team: str | None = None,
        display_name: str | None = None,
        email: str | None = None,
    ) -> int:
        """Create a user or update role/team of an existing one (admins); see :func:`access.create_user`."""
        return access.create_user(
            self.ws, name, role=role, password=password, team=team, display_name=display_name, email=email,
            actor=self.principal,
        )  # fmt: skip

    def reset_password(self, user_id: int, password: str) -> None:
        """Set another user's password and sign out their sessions (admins)."""
        access.reset_password(self.ws, self.principal, user_id, password)

    def set_active(self, user_id: int, active: bool) -> None:
        """Deactivate or reactivate a user (admins): a deactivated user's sessions and API tokens stop at once;
        see :func:`access.set_active`."""
        access.set_active(self.ws, self.principal, user_id, active)

    def tokens_of(self, user_id: int) -> list[dict[str, Any]]:
        """Another user's API tokens (admins; never the token itself)."""
        return access.list_api_tokens(self.ws, self.principal, user_id)

    def revoke_any_token(self, token_id: int) -> None:
        """Revoke any user's API token (admins)."""
        access.revoke_api_token(self.ws, self.principal, token_id, any_user=True)

    def set_locale(self, locale: str) -> None:
        """Remember the actor's language."""
        access.set_locale(self.ws, self.principal, locale)

    def create_token(self, name: str) -> tuple[int, str]:
        """A new API token of the actor: ``(id, token)``; the token is shown once."""
        return access.create_api_token(self.ws, self.principal, name)

    def tokens(self) -> list[dict[str, Any]]:
        """The actor's API tokens (never the token itself)."""
        return access.list_api_tokens(self.ws, self.principal)

    def revoke_token(self, token_id: int) -> None:
        """Revoke one of the actor's API tokens."""
        access.revoke_api_token(self.ws, self.principal, token_id)
