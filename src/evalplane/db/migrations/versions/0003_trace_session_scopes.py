"""trace and session evaluations, and the session id of each span

Revision ID: 0003_trace_session_scopes
Revises: 0002_fair_claims
Create Date: 2026-12-06 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import evalplane.db.types

revision = "0003_trace_session_scopes"
down_revision = "0002_fair_claims"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _evaluations(table: str, key: str, key_length: int) -> None:
    op.create_table(
        table,
        sa.Column("project_id", _ID, nullable=False),
        sa.Column(key, sa.String(length=key_length), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("label", sa.String(length=1024), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column("metadata", evalplane.db.types.JSONDocument(), nullable=True),
        sa.Column("task_id", sa.BigInteger(), nullable=True),
        sa.Column("task_run_id", sa.BigInteger(), nullable=True),
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f(f"fk_{table}_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("project_id", key, "name", name=op.f(f"uq_{table}_project_id_{key}_name")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(f"ix_{table}_project_name_label", ["project_id", "name", "label"], unique=False)


def upgrade() -> None:
    _evaluations("trace_evaluations", "trace_id", 32)
    _evaluations("session_evaluations", "session_id", 256)
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_id", sa.String(length=256), nullable=True))
        batch_op.create_index(
            "ix_spans_project_session_start", ["project_id", "session_id", "start_time"], unique=False
        )
    # Spans stored before this revision get their session id from their attributes.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE spans SET session_id = attributes->'session'->>'id' "
            "WHERE jsonb_typeof(attributes->'session'->'id') = 'string' "
            "AND length(attributes->'session'->>'id') <= 256"
        )
    else:
        op.execute(
            "UPDATE spans SET session_id = json_extract(attributes, '$.session.id') "
            "WHERE json_type(attributes, '$.session.id') = 'text' "
            "AND length(json_extract(attributes, '$.session.id')) <= 256"
        )


def downgrade() -> None:
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.drop_index("ix_spans_project_session_start")
        batch_op.drop_column("session_id")
    op.drop_table("session_evaluations")
    op.drop_table("trace_evaluations")
