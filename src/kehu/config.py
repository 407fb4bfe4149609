"""Settings: the only module that reads the environment.

``load_settings()`` builds a :class:`Settings` from ``KEHU_*`` environment variables and explicit overrides;
nothing is built at import time. Everything else receives the settings object it needs.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
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
    purchase_model: Literal["bgnbd", "pareto_nbd", "mbgnbd"] = Field(
        default="bgnbd",
        description="Purchase model of `kehu run` and `kehu report models`: BG/NBD, Pareto/NBD or MBG/NBD.",
    )
    import_chunk_rows: int = Field(default=50_000, ge=1, description="Rows per import chunk.")
    # -- hostile files, uploads and the store's turns (docs/import.md "Limits") ------------------------------
    import_xlsx_max_mb: int = Field(
        default=512, ge=1, description="A workbook that would unpack to more than this many MB is refused unread."
    )
    import_xlsx_max_cells: int = Field(
        default=20_000_000,
        ge=1,
        description="A sheet spanning more cells than this (rows x columns of its used range) is refused unread.",
    )
    import_xlsx_memory_mb: int = Field(
        default=2048, ge=256, description="Memory (MB of address space) the workbook reader's own process may use."
    )
    import_xlsx_seconds: int = Field(
        default=600, ge=1, description="The workbook reader's process is stopped after this many seconds."
    )
    upload_max_mb: int = Field(
        default=200, ge=1, description="The web app and the API refuse uploads bigger than this many MB."
    )
    store_wait_seconds: int = Field(
        default=3600,
        ge=0,
        description="An import or run waits this long for another one to finish before giving up.",
    )
    # -- playbooks and message channels (docs/playbooks.md) --------------------------------------------------
    locale: Literal["zh-CN", "en"] = Field(
        default="zh-CN", description="Language of task and message texts for people without their own locale."
    )
    playbooks_dir: Path | None = Field(
        default=None, description="Folder of the workspace's playbooks (*.yaml); default: KEHU_HOME/playbooks."
    )
    playbook_customer_daily_cap: int = Field(
        default=0,
        ge=0,
        description="At most this many rules fire per customer per day (higher priority first); 0: no cap.",
    )
    playbook_effect_days: int = Field(
        default=60,
        ge=1,
        le=365,
        description="Days after a firing over which a rule's effect (treated vs held out) is measured.",
    )
    task_capacity_rep: int = Field(default=15, ge=0, description="Playbook tasks a rep is given per working day.")
    task_capacity_manager: int = Field(
        default=8, ge=0, description="Playbook tasks a manager is given per working day (they also coach and approve)."
    )
    task_capacity_admin: int = Field(default=3, ge=0, description="Playbook tasks an admin is given per working day.")
    capacity_days: int = Field(
        default=5, ge=1, le=60, description="Playbook tasks are spread over this many next working days."
    )
    working_days: str = Field(
        default="1,2,3,4,5", description="Working weekdays for task due dates (ISO numbers: 1 = Monday … 7 = Sunday)."
    )
    task_stale_days: int = Field(
        default=7,
        ge=1,
        description="An open playbook task this many days past due, or a backlog entry waiting this long, expires.",
    )
    quiet_hours: str | None = Field(
        default="21:00-08:00", description="Local hours when no message is sent (HH:MM-HH:MM); empty: none."
    )
    smtp_host: str | None = Field(default=None, description="SMTP server for email messages.")
    smtp_port: int = Field(default=25, description="SMTP port (465 with KEHU_SMTP_SSL, 587 with STARTTLS).")
    smtp_user: str | None = Field(default=None, description="SMTP user name (omit for no login).")
    smtp_password: str | None = Field(default=None, description="SMTP password.")
    smtp_starttls: bool = Field(default=False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_ssl: bool = Field(default=False, description="Connect to the SMTP server over TLS (SMTPS).")
    smtp_from: str | None = Field(default=None, description="Sender address of email messages.")
    smtp_timeout: float = Field(default=30.0, gt=0, description="Seconds before an SMTP connection gives up.")
    webhooks: dict[str, str] = Field(
        default={}, description='Named webhook URLs for messages, as JSON: {"sales": "https://..."}.'
    )
    webhook_timeout: float = Field(default=10.0, gt=0, description="Seconds before a webhook POST gives up.")
    sms_provider: str | None = Field(
        default=None, description="SMS provider as module:factory (a callable taking the settings, see docs)."
    )
    delivery_max_attempts: int = Field(
        default=8, ge=1, description="Attempts to deliver a message before it is marked dead."
    )
    delivery_backoff_seconds: float = Field(
        default=60.0, gt=0, description="Wait after the first failed delivery; doubles after each further failure."
    )
    schedule_daily_at: str | None = Field(
        default="02:00",
        description="`kehu serve` runs `kehu run` (pipeline + playbooks) daily at this HH:MM in KEHU_TIMEZONE "
        "(and once at start when the last scheduled run was missed); `off`: never.",
    )
    refresh_stale_seconds: float = Field(
        default=900.0,
        gt=0,
        description="An analytics run whose process gave no sign of life for this long is taken over (a crash).",
    )
    schedule_delivery_seconds: float = Field(
        default=60.0, gt=0, description="`kehu serve` delivers due messages (retries) this often."
    )
    digest_at: str = Field(
        default="08:30", description="Local HH:MM of each user's daily digest unless they chose another time."
    )
    digest_email: bool = Field(
        default=True, description="Send the daily digest by e-mail to users with an address unless they opted out."
    )

    web_concurrent_reads: int = Field(
        default=1,
        ge=1,
        le=1000,
        description="Page, JSON and API reads (GET) each `kehu serve` worker starts at once; more wait in order.",
    )

    # -- web hardening (docs/web.md#security) ---------------------------------------------------------------
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (the client is the right-most address not in this list); empty: none.",
    )
    webhook_allow: str = Field(
        default="",
        description="Comma-separated host names, addresses or CIDR ranges that webhooks may reach although they are "
        "loopback, link-local or private (e.g. 127.0.0.1,10.1.0.0/16,robot.intranet); empty: public addresses only.",
    )

    loop_config: Path | None = Field(
        default=None, description="YAML with ticket SLAs and assignment, loyalty rules; default KEHU_HOME/loop.yaml."
    )

    @property
    def resolved_database_url(self) -> str:
        """The store URL: ``database_url`` or a SQLite file ``kehu.db`` inside ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'kehu.db').resolve()}"

    @field_validator("working_days")
    @classmethod
    def _weekdays(cls, value: str) -> str:
        days = [d.strip() for d in value.split(",") if d.strip()]
        if not days or any(d not in "1234567" or len(d) != 1 for d in days):
            raise ValueError(f"{value!r}: a comma-separated list of weekday numbers 1 (Monday) to 7 (Sunday)")
        return ",".join(sorted(set(days)))

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        for item in _items(value):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r}: give IP addresses or CIDR ranges such as 10.0.0.0/8") from None
        return ",".join(_items(value))

    @field_validator("webhook_allow")
    @classmethod
    def _webhook_allow(cls, value: str) -> str:
        for item in _items(value):
            if "/" in item:
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise ValueError(
                        f"{item!r}: give host names, IP addresses or CIDR ranges such as 10.0.0.0/8"
                    ) from None
            elif not item.replace(".", "").replace("-", "").replace(":", "").replace("_", "").isalnum():
                raise ValueError(f"{item!r}: give host names, IP addresses or CIDR ranges such as 10.0.0.0/8")
        return ",".join(i.lower() for i in _items(value))

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The trusted reverse proxies as networks (a single address is a /32 or /128)."""
        return tuple(ipaddress.ip_network(i, strict=False) for i in _items(self.trusted_proxies))

    @property
    def webhook_allow_list(self) -> tuple[str, ...]:
        """The hosts, addresses and ranges webhooks may reach although they are not public."""
        return _items(self.webhook_allow)

    @property
    def weekdays(self) -> tuple[int, ...]:
        """The working weekdays as ISO numbers (1 = Monday)."""
        return tuple(int(d) for d in self.working_days.split(","))

    @property
    def role_capacities(self) -> dict[str, int]:
        """The default daily task capacity per role."""
        return {"rep": self.task_capacity_rep, "manager": self.task_capacity_manager, "admin": self.task_capacity_admin}

    @property
    def resolved_playbooks_dir(self) -> Path:
        """Folder of the workspace's playbooks: ``playbooks_dir`` or ``playbooks`` inside ``home``."""
        return self.playbooks_dir if self.playbooks_dir is not None else self.home / "playbooks"

    @property
    def quarantine_dir(self) -> Path:
        """Folder where quarantine CSVs of rejected rows are written."""
        return self.home / "quarantine"


def _items(value: str) -> tuple[str, ...]:
    return tuple(i.strip() for i in value.split(",") if i.strip())


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, then apply non-``None`` overrides (e.g. ``home`` from ``--home``)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)
