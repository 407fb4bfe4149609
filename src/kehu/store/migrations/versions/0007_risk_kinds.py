"""Two named risks and a win-back figure: typed, indexed copies of the published contract non-renewal risk and
tier, of the win-back probability and value at stake, and of their product (the 待挽回 list's order) on
``customer_scores`` (filled from the ``scores`` JSON), beside the purchase-churn risk of 0003.

Revision ID: 0007_risk_kinds
Revises: 0006_status_history
Create Date: 2026-12-07 14:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_risk_kinds"
down_revision = "0006_status_history"
branch_labels = None
depends_on = None

_FLOATS = ("renewal_risk", "winback", "winback_value", "winback_expected")


def upgrade() -> None:
    with op.batch_alter_table("customer_scores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("renewal_risk", sa.Float(precision=53), nullable=True))
        batch_op.add_column(sa.Column("renewal_tier", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("winback", sa.Float(precision=53), nullable=True))
        batch_op.add_column(sa.Column("winback_value", sa.Float(precision=53), nullable=True))
        batch_op.add_column(sa.Column("winback_expected", sa.Float(precision=53), nullable=True))
    scores = sa.table(
        "customer_scores",
        sa.column("scores", sa.JSON()),
        sa.column("renewal_tier", sa.String()),
        *(sa.column(name, sa.Float()) for name in _FLOATS),
    )
    s = scores.c.scores
    values = {name: s[name].as_float() for name in _FLOATS[:-1]}
    values["winback_expected"] = s["winback"].as_float() * s["winback_value"].as_float()
    op.execute(scores.update().values(renewal_tier=s["renewal_tier"].as_string(), **values))
    with op.batch_alter_table("customer_scores", schema=None) as batch_op:
        batch_op.create_index("ix_customer_scores_renewal_tier_risk", ["renewal_tier", "renewal_risk"], unique=False)
        batch_op.create_index("ix_customer_scores_winback", ["winback"], unique=False)
        batch_op.create_index("ix_customer_scores_winback_expected", ["winback_expected"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("customer_scores", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_scores_winback_expected")
        batch_op.drop_index("ix_customer_scores_winback")
        batch_op.drop_column("winback_expected")
        batch_op.drop_index("ix_customer_scores_renewal_tier_risk")
        batch_op.drop_column("winback_value")
        batch_op.drop_column("winback")
        batch_op.drop_column("renewal_tier")
        batch_op.drop_column("renewal_risk")
