"""Closing the loop: campaigns with holdout arms and messages; ticket assignments, SLA breaches and
satisfaction follow-ups; the loyalty ledger, tiers and tier changes.

Revision ID: 0002_loop
Revises: 0002_playbooks
Create Date: 2026-11-23 15:22:40.320048
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kehu.store.schema

revision = "0002_loop"
down_revision = "0002_playbooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("stratify_by", sa.String(length=100), nullable=True),
        sa.Column("offer", sa.JSON(), nullable=True),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=True),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("holdout_share", sa.Float(precision=53), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("attribution_days", sa.Integer(), nullable=False),
        sa.Column("lapse_days", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("created_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("assigned_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("launched_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index("uq_campaigns_name", ["name"], unique=True)

    op.create_table(
        "ticket_round_robin",
        sa.Column("pool", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("pool", name=op.f("pk_ticket_round_robin")),
    )
    op.create_table(
        "campaign_members",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("arm", sa.String(length=10), nullable=False),
        sa.Column("stratum", sa.String(length=100), nullable=False),
        sa.Column("active_before", sa.Boolean(), nullable=False),
        sa.Column("lapsed", sa.Boolean(), nullable=False),
        sa.Column("assigned_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_members_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_campaign_members_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "customer_id", name=op.f("pk_campaign_members")),
    )
    with op.batch_alter_table("campaign_members", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_members_campaign_arm", ["campaign_id", "arm"], unique=False)

    op.create_table(
        "campaign_messages",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("provider_id", sa.String(length=300), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_messages_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_campaign_messages_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "customer_id", name=op.f("pk_campaign_messages")),
    )
    op.create_table(
        "loyalty_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("spend_cents", sa.BigInteger(), nullable=True),
        sa.Column("on_day", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_loyalty_ledger_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_ledger")),
    )
    with op.batch_alter_table("loyalty_ledger", schema=None) as batch_op:
        batch_op.create_index("ix_loyalty_ledger_customer_day", ["customer_id", "on_day"], unique=False)
        batch_op.create_index("uq_loyalty_ledger_idempotency_key", ["idempotency_key"], unique=True)

    op.create_table(
        "loyalty_tier_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("from_tier", sa.String(length=20), nullable=True),
        sa.Column("to_tier", sa.String(length=20), nullable=False),
        sa.Column("on_day", sa.Date(), nullable=False),
        sa.Column("reason", sa.JSON(), nullable=True),
        sa.Column("created_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_loyalty_tier_changes_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_tier_changes")),
    )
    with op.batch_alter_table("loyalty_tier_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loyalty_tier_changes_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("uq_loyalty_tier_changes_customer_day", ["customer_id", "on_day"], unique=True)

    op.create_table(
        "loyalty_tiers",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_loyalty_tiers_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_loyalty_tiers")),
    )
    op.create_table(
        "satisfaction_followups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("due_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_satisfaction_followups_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_satisfaction_followups_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_satisfaction_followups")),
    )
    with op.batch_alter_table("satisfaction_followups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_satisfaction_followups_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("uq_satisfaction_followups_ticket", ["ticket_id"], unique=True)

    op.create_table(
        "ticket_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("assignee", sa.String(length=100), nullable=False),
        sa.Column("rule", sa.String(length=20), nullable=False),
        sa.Column("pool", sa.String(length=200), nullable=True),
        sa.Column("at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_assignments_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_assignments")),
    )
    with op.batch_alter_table("ticket_assignments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_assignments_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "ticket_sla_breaches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("due_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("detected_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_ticket_sla_breaches_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_sla_breaches_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_sla_breaches")),
    )
    with op.batch_alter_table("ticket_sla_breaches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_sla_breaches_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("uq_ticket_sla_breaches_ticket_kind", ["ticket_id", "kind"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("ticket_sla_breaches", schema=None) as batch_op:
        batch_op.drop_index("uq_ticket_sla_breaches_ticket_kind")
        batch_op.drop_index(batch_op.f("ix_ticket_sla_breaches_customer_id"))

    op.drop_table("ticket_sla_breaches")
    with op.batch_alter_table("ticket_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_assignments_ticket_id"))

    op.drop_table("ticket_assignments")
    with op.batch_alter_table("satisfaction_followups", schema=None) as batch_op:
        batch_op.drop_index("uq_satisfaction_followups_ticket")
        batch_op.drop_index(batch_op.f("ix_satisfaction_followups_customer_id"))

    op.drop_table("satisfaction_followups")
    op.drop_table("loyalty_tiers")
    with op.batch_alter_table("loyalty_tier_changes", schema=None) as batch_op:
        batch_op.drop_index("uq_loyalty_tier_changes_customer_day")
        batch_op.drop_index(batch_op.f("ix_loyalty_tier_changes_customer_id"))

    op.drop_table("loyalty_tier_changes")
    with op.batch_alter_table("loyalty_ledger", schema=None) as batch_op:
        batch_op.drop_index("uq_loyalty_ledger_idempotency_key")
        batch_op.drop_index("ix_loyalty_ledger_customer_day")

    op.drop_table("loyalty_ledger")
    op.drop_table("campaign_messages")
    with op.batch_alter_table("campaign_members", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_members_campaign_arm")

    op.drop_table("campaign_members")
    op.drop_table("ticket_round_robin")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index("uq_campaigns_name")

    op.drop_table("campaigns")
