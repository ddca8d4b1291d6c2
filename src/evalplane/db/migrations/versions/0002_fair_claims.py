"""an index to claim work units task by task

Revision ID: 0002_fair_claims
Revises: 0001
Create Date: 2026-12-06 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_fair_claims"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("work_units", schema=None) as batch_op:
        batch_op.create_index(
            "ix_work_units_claimable_by_task",
            ["task_id", "not_before", "id"],
            unique=False,
            sqlite_where=sa.text("state = 'PENDING'"),
            postgresql_where=sa.text("state = 'PENDING'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("work_units", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_work_units_claimable_by_task",
            sqlite_where=sa.text("state = 'PENDING'"),
            postgresql_where=sa.text("state = 'PENDING'"),
        )
