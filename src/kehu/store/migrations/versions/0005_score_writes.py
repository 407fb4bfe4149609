"""A log of score writes: ``score_writes`` gets one row each time model scores are merged into the published
scores, so the pages' cached figures notice a re-score that no pipeline or segment run accompanies
(``kehu models train`` scoring the newest day with the new model).

Revision ID: 0005_score_writes
Revises: 0004_risk_tier_index
Create Date: 2026-12-07 14:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kehu.store.schema import UTCDateTime

revision = "0005_score_writes"
down_revision = "0004_risk_tier_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "score_writes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("written_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("score_writes")
