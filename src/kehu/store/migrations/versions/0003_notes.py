"""Customer notes written by people on the customer 360 page.

Revision ID: 0003_notes
Revises: 0002_loop
Create Date: 2026-11-23 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kehu.store.schema

revision = "0003_notes"
down_revision = "0002_loop"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", kehu.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_customer_notes_customer_id"), "customer_notes", ["customer_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_customer_notes_customer_id"), table_name="customer_notes")
    op.drop_table("customer_notes")
