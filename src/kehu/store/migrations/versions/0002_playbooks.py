"""Playbooks: runs, firings, the outbox and its delivery attempts, tasks, coupons, the audit log.

Revision ID: 0002_playbooks
Revises: 0001
Create Date: 2026-11-23 15:19:19.351631
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kehu.store.schema

revision = "0002_playbooks"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "playbook_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("started_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playbook_runs")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("target", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.JSON(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_audit_log_customer_id_customers"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "playbook_firings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("playbook", sa.String(length=100), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("occurrence", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("decided_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_playbook_firings_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["playbook_runs.id"], name=op.f("fk_playbook_firings_run_id_playbook_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playbook_firings")),
    )
    with op.batch_alter_table("playbook_firings", schema=None) as batch_op:
        batch_op.create_index("ix_playbook_firings_customer_day", ["customer_id", "day"], unique=False)
        batch_op.create_index("ix_playbook_firings_rule_day", ["playbook", "rule", "day"], unique=False)
        batch_op.create_index(
            "uq_playbook_firings_occurrence", ["playbook", "rule", "customer_id", "occurrence"], unique=True
        )

    op.create_table(
        "coupons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("percent", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("min_order_cents", sa.BigInteger(), nullable=True),
        sa.Column("issued_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("playbook", sa.String(length=100), nullable=True),
        sa.Column("rule", sa.String(length=100), nullable=True),
        sa.Column("firing_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_coupons_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["firing_id"],
            ["playbook_firings.id"],
            name=op.f("fk_coupons_firing_id_playbook_firings"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupons")),
    )
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coupons_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("uq_coupons_code", ["code"], unique=True)
        batch_op.create_index("uq_coupons_idempotency_key", ["idempotency_key"], unique=True)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("firing_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_until", kehu.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_outbox_customer_id_customers"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["firing_id"],
            ["playbook_firings.id"],
            name=op.f("fk_outbox_firing_id_playbook_firings"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_firing_id"), ["firing_id"], unique=False)
        batch_op.create_index("ix_outbox_status_next", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index("uq_outbox_idempotency_key", ["idempotency_key"], unique=True)

    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("playbook", sa.String(length=100), nullable=True),
        sa.Column("rule", sa.String(length=100), nullable=True),
        sa.Column("firing_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.Column("created_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["users.id"], name=op.f("fk_tasks_assignee_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_tasks_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["firing_id"],
            ["playbook_firings.id"],
            name=op.f("fk_tasks_firing_id_playbook_firings"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tasks_assignee_id"), ["assignee_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tasks_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("ix_tasks_status_due", ["status", "due_date"], unique=False)
        batch_op.create_index("uq_tasks_idempotency_key", ["idempotency_key"], unique=True)

    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name=op.f("fk_delivery_attempts_outbox_id_outbox"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
    )
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_attempts_outbox_id"), ["outbox_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_attempts_outbox_id"))

    op.drop_table("delivery_attempts")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("uq_tasks_idempotency_key")
        batch_op.drop_index("ix_tasks_status_due")
        batch_op.drop_index(batch_op.f("ix_tasks_customer_id"))
        batch_op.drop_index(batch_op.f("ix_tasks_assignee_id"))

    op.drop_table("tasks")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("uq_outbox_idempotency_key")
        batch_op.drop_index("ix_outbox_status_next")
        batch_op.drop_index(batch_op.f("ix_outbox_firing_id"))

    op.drop_table("outbox")
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.drop_index("uq_coupons_idempotency_key")
        batch_op.drop_index("uq_coupons_code")
        batch_op.drop_index(batch_op.f("ix_coupons_customer_id"))

    op.drop_table("coupons")
    with op.batch_alter_table("playbook_firings", schema=None) as batch_op:
        batch_op.drop_index("uq_playbook_firings_occurrence")
        batch_op.drop_index("ix_playbook_firings_rule_day")
        batch_op.drop_index("ix_playbook_firings_customer_day")

    op.drop_table("playbook_firings")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_customer_id"))
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
    op.drop_table("playbook_runs")
