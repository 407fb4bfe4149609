"""Next best actions within capacity: daily task capacity overrides (per team and user), the ranked backlog of
playbook actions that did not fit, what became of each firing (``merged_into`` and ``stake``; the ``fate`` column
is 0009_holdout's, whose values this adds to) and why a task was closed by a run (``close_reason``: expired).

Revision ID: 0011_capacity
Revises: 0010_fresh
Create Date: 2026-12-07 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kehu.store.schema

revision = "0011_capacity"
down_revision = "0010_fresh"
branch_labels = None
depends_on = None


def upgrade() -> None:
    utc = kehu.store.schema.UTCDateTime(timezone=True)
    op.create_table(
        "task_capacities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("per_day", sa.Integer(), nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_task_capacities"),
    )
    op.create_index("uq_task_capacities_key", "task_capacities", ["key"], unique=True)
    with op.batch_alter_table("playbook_firings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merged_into", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("stake", sa.JSON(), nullable=True))
        batch_op.create_foreign_key(
            "fk_playbook_firings_merged_into_playbook_firings",
            "playbook_firings",
            ["merged_into"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index("ix_playbook_firings_merged_into", ["merged_into"], unique=False)
        batch_op.create_index("ix_playbook_firings_run_id_fate", ["run_id", "fate"], unique=False)
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("close_reason", sa.String(length=20), nullable=True))
    op.create_table(
        "backlog",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("firing_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("playbook", sa.String(length=100), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("value_at_stake", sa.Float(precision=53), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("task", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("closed_at", utc, nullable=True),
        sa.Column("closed_by", sa.String(length=200), nullable=True),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["firing_id"], ["playbook_firings.id"], name="fk_backlog_firing_id_playbook_firings", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_backlog_customer_id_customers", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["users.id"], name="fk_backlog_assignee_id_users", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name="fk_backlog_task_id_tasks", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_backlog"),
    )
    op.create_index("ix_backlog_assignee_id", "backlog", ["assignee_id"], unique=False)
    op.create_index("ix_backlog_customer_id", "backlog", ["customer_id"], unique=False)
    op.create_index("uq_backlog_firing_id", "backlog", ["firing_id"], unique=True)
    op.create_index("ix_backlog_status_value", "backlog", ["status", "value_at_stake"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_backlog_status_value", table_name="backlog")
    op.drop_index("uq_backlog_firing_id", table_name="backlog")
    op.drop_index("ix_backlog_customer_id", table_name="backlog")
    op.drop_index("ix_backlog_assignee_id", table_name="backlog")
    op.drop_table("backlog")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("close_reason")
    with op.batch_alter_table("playbook_firings", schema=None) as batch_op:
        batch_op.drop_index("ix_playbook_firings_run_id_fate")
        batch_op.drop_index("ix_playbook_firings_merged_into")
        batch_op.drop_constraint("fk_playbook_firings_merged_into_playbook_firings", type_="foreignkey")
        batch_op.drop_column("stake")
        batch_op.drop_column("merged_into")
    op.drop_index("uq_task_capacities_key", table_name="task_capacities")
    op.drop_table("task_capacities")
