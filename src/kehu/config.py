"""Settings: the only module that reads the environment.

``load_settings()`` builds a :class:`Settings` from ``KEHU_*`` environment variables and explicit overrides;
nothing is built at import time. Everything else receives the settings object it needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "load_settings"]


class Settings(BaseSettings):
    """Kehu's settings (environment variables ``KEHU_<NAME>``)."""

    model_config = SettingsConfigDict(env_prefix="KEHU_", extra="ignore")

    home: Path = Field(default=Path(".kehu"), description="Workspace folder (store, quarantine, models).")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the app store; default: SQLite file inside KEHU_HOME."
    )
    engine: Literal["duckdb", "spark"] = Field(default="duckdb", description="Analytics engine.")
    duckdb_memory_limit: str | None = Field(
        default=None, description="DuckDB memory limit such as '1GB' (DuckDB spills to disk beyond it)."
    )
    spark_master: str = Field(default="local[*]", description="Spark master URL when engine=spark.")
    orders_path: str | None = Field(
        default=None, description="Read orders from this Parquet file, folder or glob instead of the store."
    )
    interactions_path: str | None = Field(
        default=None, description="Read interactions from this Parquet file, folder or glob instead of the store."
    )
    timezone: str = Field(
        default="Asia/Shanghai", description="Time zone for dates without one and of the analytics' calendar days."
    )
    currency: str = Field(default="CNY", description="Currency for amounts without one.")
    import_chunk_rows: int = Field(default=50_000, ge=1, description="Rows per import chunk.")

    @property
    def resolved_database_url(self) -> str:
        """The store URL: ``database_url`` or a SQLite file ``kehu.db`` inside ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'kehu.db').resolve()}"

    @property
    def quarantine_dir(self) -> Path:
        """Folder where quarantine CSVs of rejected rows are written."""
        return self.home / "quarantine"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, then apply non-``None`` overrides (e.g. ``home`` from ``--home``)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)
