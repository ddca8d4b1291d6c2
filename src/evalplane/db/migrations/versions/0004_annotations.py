"""annotation configs and span annotations

Revision ID: 0004_annotations
Revises: 0003_trace_session_scopes
Create Date: 2026-12-06 05:29:59.924239
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import evalplane.db.types

revision = "0004_annotations"
down_revision = "0003_trace_session_scopes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "annotation_configs",
        sa.Column("space_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("config_type", sa.String(length=16), nullable=False),
        sa.Column("values", evalplane.db.types.JSONDocument(), nullable=True),
        sa.Column("minimum_score", sa.Float(), nullable=True),
        sa.Column("maximum_score", sa.Float(), nullable=True),
        sa.Column("optimization_direction", sa.String(length=16), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.id"], name=op.f("fk_annotation_configs_space_id_spaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation_configs")),
        sa.UniqueConstraint("space_id", "name", name=op.f("uq_annotation_configs_space_id_name")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("annotation_configs", schema=None) as batch_op:
        batch_op.create_index("ix_annotation_configs_space_id_id", ["space_id", "id"], unique=False)

    op.create_table(
        "span_annotations",
        sa.Column("span_row_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("label", sa.String(length=1024), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("annotator_id", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.String(length=255), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["span_row_id"], ["spans.id"], name=op.f("fk_span_annotations_span_row_id_spans"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_span_annotations")),
        sa.UniqueConstraint("span_row_id", "name", name=op.f("uq_span_annotations_span_row_id_name")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("span_annotations", schema=None) as batch_op:
        batch_op.create_index("ix_span_annotations_name_label", ["name", "label"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("span_annotations", schema=None) as batch_op:
        batch_op.drop_index("ix_span_annotations_name_label")

    op.drop_table("span_annotations")
    with op.batch_alter_table("annotation_configs", schema=None) as batch_op:
        batch_op.drop_index("ix_annotation_configs_space_id_id")

    op.drop_table("annotation_configs")
