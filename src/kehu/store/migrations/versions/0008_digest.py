"""Reminders: each user's in-app notifications (unique per notified event) and their daily-digest choices.

Revision ID: 0008_digest
Revises: 0007_risk_kinds
Create Date: 2026-12-07 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kehu.store.schema

revision = "0008_digest"
down_revision = "0007_risk_kinds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("link", sa.String(length=300), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("created_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("uq_notifications_key", ["key"], unique=True)
        batch_op.create_index("ix_notifications_user_read", ["user_id", "read_at"], unique=False)
        batch_op.create_index("ix_notifications_user_id", ["user_id", "id"], unique=False)
    op.create_table(
        "notification_prefs",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=True),
        sa.Column("webhook", sa.String(length=100), nullable=True),
        sa.Column("webhook_format", sa.String(length=10), nullable=True),
        sa.Column("digest_at", sa.String(length=5), nullable=True),
        sa.Column("updated_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_digest_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade() -> None:
    op.drop_table("notification_prefs")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_user_id")
        batch_op.drop_index("ix_notifications_user_read")
        batch_op.drop_index("uq_notifications_key")
    op.drop_table("notifications")
