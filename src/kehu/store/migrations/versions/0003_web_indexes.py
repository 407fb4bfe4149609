"""The customers list at scale: typed, indexed copies of the published CLV, churn risk and churn tier on
``customer_scores`` (filled from the ``scores`` JSON), and indexes for sorting by value, risk, revenue and last
order, and a covering index that lists a segment's members.

Revision ID: 0003_web_indexes
Revises: 0003_notes
Create Date: 2026-11-23 16:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_web_indexes"
down_revision = "0003_notes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customer_scores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clv_12m", sa.Float(precision=53), nullable=True))
        batch_op.add_column(sa.Column("churn_risk", sa.Float(precision=53), nullable=True))
        batch_op.add_column(sa.Column("churn_tier", sa.String(length=10), nullable=True))
    scores = sa.table(
        "customer_scores",
        sa.column("scores", sa.JSON()),
        sa.column("clv_12m", sa.Float()),
        sa.column("churn_risk", sa.Float()),
        sa.column("churn_tier", sa.String()),
    )
    s = scores.c.scores
    op.execute(
        scores.update().values(
            clv_12m=s["clv_12m"].as_float(),
            churn_risk=s["churn_risk"].as_float(),
            churn_tier=s["churn_tier"].as_string(),
        )
    )
    with op.batch_alter_table("customer_scores", schema=None) as batch_op:
        batch_op.create_index("ix_customer_scores_churn_risk", ["churn_risk"], unique=False)
        batch_op.create_index("ix_customer_scores_churn_tier", ["churn_tier"], unique=False)
        batch_op.create_index("ix_customer_scores_clv_12m", ["clv_12m"], unique=False)
        batch_op.create_index("ix_customer_scores_last_order_at", ["last_order_at"], unique=False)
        batch_op.create_index("ix_customer_scores_total_revenue_cents", ["total_revenue_cents"], unique=False)
    with op.batch_alter_table("segment_memberships", schema=None) as batch_op:
        batch_op.create_index(
            "ix_segment_memberships_run_segment_customer", ["run_id", "segment", "customer_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("segment_memberships", schema=None) as batch_op:
        batch_op.drop_index("ix_segment_memberships_run_segment_customer")
    with op.batch_alter_table("customer_scores", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_scores_total_revenue_cents")
        batch_op.drop_index("ix_customer_scores_last_order_at")
        batch_op.drop_index("ix_customer_scores_clv_12m")
        batch_op.drop_index("ix_customer_scores_churn_tier")
        batch_op.drop_index("ix_customer_scores_churn_risk")
        batch_op.drop_column("churn_tier")
        batch_op.drop_column("churn_risk")
        batch_op.drop_column("clv_12m")
