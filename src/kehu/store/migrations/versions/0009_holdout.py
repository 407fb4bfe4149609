"""What became of a playbook firing: ``playbook_firings.fate`` (``acted`` for every firing so far, ``held_out``
for those of customers in the rule's holdout, which get nothing from it). The effects of a rule over a window of
days read the firings through the existing ``(playbook, rule, day)`` index.

Revision ID: 0009_holdout
Revises: 0008_digest
Create Date: 2026-12-07 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_holdout"
down_revision = "0008_digest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("playbook_firings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fate", sa.String(length=20), nullable=False, server_default="acted"))


def downgrade() -> None:
    with op.batch_alter_table("playbook_firings", schema=None) as batch_op:
        batch_op.drop_column("fate")
