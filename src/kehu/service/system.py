"""Settings and the state of the system (admins): every setting with its environment variable, effective value
(secrets masked: no secret leaves this module), default and description; the version, store, revision, engine,
data counts and the newest published day."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kehu.service.access import require_role
from kehu.service.principal import Service
from kehu.store import dashboard as dashboard_store

__all__ = ["SystemService"]

_SECRET_WORDS = ("password", "secret", "token", "key")


def _shown_setting(name: str, value: Any) -> Any:
    """A setting's value fit for a page: secrets masked, passwords in URLs hidden, webhook URLs cut to the host."""
    from urllib.parse import urlsplit

    from sqlalchemy.engine import make_url

    if value is None or value == "" or value == {}:
        return None
    if any(w in name for w in _SECRET_WORDS):
        return "••••••"
    if name == "database_url":
        return make_url(str(value)).render_as_string(hide_password=True)
    if name == "webhooks" and isinstance(value, dict):
        return {k: f"{urlsplit(str(v)).scheme}://{urlsplit(str(v)).hostname or ''}/…" for k, v in sorted(value.items())}
    if isinstance(value, Path):
        return str(value)
    return value


class SystemService(Service):
    """Settings and the state of the system (admins); the settings page shapes them with
    :func:`kehu.views.settings.settings_page`."""

    def settings(self) -> list[dict[str, Any]]:
        """Every setting: ``name``, environment variable ``env``, effective ``value`` and ``default`` (secrets
        masked, passwords in URLs hidden, webhook URLs cut to the host), whether it was ``changed`` from the
        default, and its ``description``."""
        require_role(self.principal, "admin")
        s = self.ws.settings
        rows = []
        for name, info in type(s).model_fields.items():
            value = getattr(s, name)
            default = info.get_default(call_default_factory=True)
            rows.append({
                "name": name,
                "env": f"KEHU_{name.upper()}",
                "value": _shown_setting(name, value),
                "default": _shown_setting(name, default),
                "changed": value != default,
                "description": info.description or "",
            })  # fmt: skip
        return rows

    def state(self) -> dict[str, Any]:
        """The state of the system: Kehu's version, the store (dialect, URL without password, schema revision and
        the code's head revision), the analytics engine, the home folder, data counts and the newest published
        day."""
        from importlib.metadata import PackageNotFoundError, version

        from kehu.store.db import current_revision, head_revision

        require_role(self.principal, "admin")
        s = self.ws.settings
        try:
            kehu_version = version("kehu")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
            kehu_version = "dev"
        with self.ws.engine.connect() as conn:
            totals = dashboard_store.dashboard_totals(conn, None)
            as_of = dashboard_store.published_as_of(conn)
        return {
            "version": kehu_version,
            "store": self.ws.engine.dialect.name,
            "database_url": _shown_setting("database_url", s.resolved_database_url),
            "revision": current_revision(self.ws.engine),
            "head": head_revision(),
            "engine": s.engine,
            "home": str(s.home),
            "customers": totals["customers"],
            "orders": totals["orders"],
            "published_as_of": as_of,
        }
