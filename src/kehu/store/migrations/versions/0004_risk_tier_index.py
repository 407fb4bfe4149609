"""A churn tier's customers in risk order: the index on ``customer_scores.churn_tier`` becomes one on
``(churn_tier, churn_risk)``, so a customers list narrowed to a tier and sorted by risk reads that tier's part of
the index in order (it still answers everything the tier index did).

Revision ID: 0004_risk_tier_index
Revises: 0003_web_indexes
Create Date: 2026-11-23 19:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0004_risk_tier_index"
down_revision = "0003_web_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customer_scores", schema=None) as batch_op:
        batch_op.create_index("ix_customer_scores_churn_tier_risk", ["churn_tier", "churn_risk"], unique=False)
        batch_op.drop_index("ix_customer_scores_churn_tier")


def downgrade() -> None:
    with op.batch_alter_table("customer_scores", schema=None) as batch_op:
        batch_op.create_index("ix_customer_scores_churn_tier", ["churn_tier"], unique=False)
        batch_op.drop_index("ix_customer_scores_churn_tier_risk")
