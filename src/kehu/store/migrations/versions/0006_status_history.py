"""Point-in-time values: ``order_history`` and ``contract_history`` keep the versions of an order's status and
amounts and of a contract's end date, status and value that re-imports replaced, each with the time span it was
valid (see :mod:`kehu.store.history`). Existing rows get no versions: their stored values are valid from the start.

Revision ID: 0006_status_history
Revises: 0005_score_writes
Create Date: 2026-12-07 14:20:00.000000
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

import kehu.store.schema

revision = "0006_status_history"
down_revision = "0005_score_writes"
branch_labels = None
depends_on = None


def _version_columns() -> list[sa.Column[Any]]:
    utc = kehu.store.schema.UTCDateTime(timezone=True)
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("valid_from", utc, nullable=True),
        sa.Column("valid_to", utc, nullable=False),
        sa.Column("import_run_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", utc, nullable=False),
    ]


def _constraints(table: str, record_table: str) -> list[sa.Constraint]:
    return [
        sa.ForeignKeyConstraint(["import_run_id"], ["import_runs.id"], name=f"fk_{table}_import_run_id_import_runs"),
        sa.ForeignKeyConstraint(
            ["record_id"], [f"{record_table}.id"], name=f"fk_{table}_record_id_{record_table}", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
    ]


def upgrade() -> None:
    op.create_table(
        "order_history",
        *_version_columns(),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("gross_margin_cents", sa.BigInteger(), nullable=True),
        sa.Column("discount_cents", sa.BigInteger(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=True),
        *_constraints("order_history", "orders"),
    )
    op.create_index("ix_order_history_record_id", "order_history", ["record_id"], unique=False)
    op.create_table(
        "contract_history",
        *_version_columns(),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("value_cents", sa.BigInteger(), nullable=True),
        *_constraints("contract_history", "contracts"),
    )
    op.create_index("ix_contract_history_record_id", "contract_history", ["record_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_contract_history_record_id", table_name="contract_history")
    op.drop_table("contract_history")
    op.drop_index("ix_order_history_record_id", table_name="order_history")
    op.drop_table("order_history")
