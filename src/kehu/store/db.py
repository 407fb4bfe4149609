"""Connecting to the app store and keeping its schema current (Alembic).

SQLite is the embedded default (a file in KEHU_HOME); PostgreSQL is supported through any SQLAlchemy URL
(``postgresql+psycopg://…``). Migrations live in ``kehu/store/migrations`` and are applied by :func:`migrate`
(``kehu init``); every other command checks the store is current and says what to do when it is not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from kehu.errors import ConfigError, StoreError

__all__ = ["create_store_engine", "current_revision", "ensure_current", "head_revision", "migrate"]

_MIGRATIONS = Path(__file__).with_name("migrations")
#: bytes of a SQLite store read through a memory map (the rest, if the file is bigger, through read calls)
SQLITE_MMAP_BYTES = 4 * 1024**3


def create_store_engine(url: str, **kwargs: Any) -> Engine:
    """Create a SQLAlchemy engine for the store.

    SQLite connections get foreign keys, WAL journaling and a busy timeout; the database folder is created.

    Parameters
    ----------
    url
        SQLAlchemy database URL.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise ConfigError(f"KEHU_DATABASE_URL is not a valid database URL: {url!r} ({exc})") from exc
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            # reads: pages through a memory map shared by every connection and process (no read() call and copy
            # per page), a 16 MB page cache per connection and sorts in memory — the customers list at a million
            # customers reads thousands of scattered rows for one sorted page
            cur.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
            cur.execute("PRAGMA cache_size=-16000")
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.close()

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg"))
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, revision: str = "head") -> str | None:
    """Create or upgrade the store's tables to ``revision``; returns the revision now current."""
    from alembic import command

    command.upgrade(_alembic_config(engine), revision)
    return current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the store is at (``None``: not initialised)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """The newest revision this version of Kehu knows."""
    from alembic.script import ScriptDirectory

    cfg = _alembic_config(None)  # type: ignore[arg-type]
    return ScriptDirectory.from_config(cfg).get_current_head()


def ensure_current(engine: Engine) -> None:
    """Raise :class:`StoreError` unless the store exists and is migrated to the newest revision."""
    try:
        current = current_revision(engine)
    except Exception as exc:
        raise StoreError(f"cannot open the store at {engine.url!r}: {exc}") from exc
    if current is None:
        raise StoreError(f"the store at {engine.url!r} is not initialised: run `kehu init`")
    head = head_revision()
    if current != head:
        raise StoreError(f"the store is at revision {current}, this Kehu needs {head}: run `kehu init` to upgrade")
