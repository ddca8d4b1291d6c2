"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29 19:15:03.675926
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import evalplane.db.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("name", name=op.f("uq_organizations_name")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "roles",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_predefined", sa.Boolean(), nullable=False),
        sa.Column("level", sa.String(length=32), nullable=False),
        sa.Column(
            "permissions", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roles")),
        sa.UniqueConstraint("name", name=op.f("uq_roles_name")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "server_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_server_state")),
    )
    op.create_table(
        "users",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("account_role", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("is_developer", sa.Boolean(), nullable=False),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "ai_integrations",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("base_url", sa.Text(), nullable=True),
        sa.Column(
            "model_names", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column(
            "headers", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("api_key_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("enable_default_models", sa.Boolean(), nullable=False),
        sa.Column("function_calling_enabled", sa.Boolean(), nullable=False),
        sa.Column("auth_type", sa.String(length=32), nullable=False),
        sa.Column(
            "provider_metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_by_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_ai_integrations_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_integrations")),
        sa.UniqueConstraint("name", name=op.f("uq_ai_integrations_name")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "api_keys",
        sa.Column("key_type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_by_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("redacted_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("previous_token_hash", sa.String(length=64), nullable=True),
        sa.Column("previous_expires_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"], ["users.id"], name=op.f("fk_api_keys_created_by_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_keys_token_hash")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_previous_token_hash"), ["previous_token_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_api_keys_user_id"), ["user_id"], unique=False)

    op.create_table(
        "role_bindings",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("role_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resource_type", sa.String(length=16), nullable=False),
        sa.Column("resource_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["role_id"], ["roles.id"], name=op.f("fk_role_bindings_role_id_roles"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_role_bindings_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_bindings")),
        sa.UniqueConstraint(
            "user_id", "resource_type", "resource_id", name=op.f("uq_role_bindings_user_id_resource_type_resource_id")
        ),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("role_bindings", schema=None) as batch_op:
        batch_op.create_index("ix_role_bindings_resource", ["resource_type", "resource_id"], unique=False)

    op.create_table(
        "spaces",
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_private", sa.Boolean(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_spaces_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spaces")),
        sa.UniqueConstraint("organization_id", "name", name=op.f("uq_spaces_organization_id_name")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "ai_integration_scopings",
        sa.Column("integration_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("space_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["ai_integrations.id"],
            name=op.f("fk_ai_integration_scopings_integration_id_ai_integrations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_ai_integration_scopings_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.id"], name=op.f("fk_ai_integration_scopings_space_id_spaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_integration_scopings")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("ai_integration_scopings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ai_integration_scopings_integration_id"), ["integration_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ai_integration_scopings_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ai_integration_scopings_space_id"), ["space_id"], unique=False)

    op.create_table(
        "datasets",
        sa.Column("space_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"], ["users.id"], name=op.f("fk_datasets_created_by_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.id"], name=op.f("fk_datasets_space_id_spaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("space_id", "name", name=op.f("uq_datasets_space_id_name")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "evaluators",
        sa.Column("space_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("created_by_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_evaluators_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.id"], name=op.f("fk_evaluators_space_id_spaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluators")),
        sa.UniqueConstraint("space_id", "name", name=op.f("uq_evaluators_space_id_name")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("evaluators", schema=None) as batch_op:
        batch_op.create_index("ix_evaluators_space_id_id", ["space_id", "id"], unique=False)

    op.create_table(
        "projects",
        sa.Column("space_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.id"], name=op.f("fk_projects_space_id_spaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("space_id", "name", name=op.f("uq_projects_space_id_name")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "dataset_examples",
        sa.Column("dataset_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("example_id", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column(
            "annotations", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_dataset_examples_dataset_id_datasets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_examples")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("dataset_examples", schema=None) as batch_op:
        batch_op.create_index("ix_dataset_examples_dataset_id_example_id", ["dataset_id", "example_id"], unique=False)

    op.create_table(
        "dataset_versions",
        sa.Column("dataset_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_dataset_versions_dataset_id_datasets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_versions")),
        sa.UniqueConstraint("dataset_id", "name", name=op.f("uq_dataset_versions_dataset_id_name")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.create_index("ix_dataset_versions_dataset_id_id", ["dataset_id", "id"], unique=False)

    op.create_table(
        "evaluator_versions",
        sa.Column("evaluator_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("commit_hash", sa.String(length=64), nullable=False),
        sa.Column("commit_message", sa.Text(), nullable=True),
        sa.Column(
            "config", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("created_by_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_evaluator_versions_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["evaluator_id"],
            ["evaluators.id"],
            name=op.f("fk_evaluator_versions_evaluator_id_evaluators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluator_versions")),
        sa.UniqueConstraint("commit_hash", name=op.f("uq_evaluator_versions_commit_hash")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("evaluator_versions", schema=None) as batch_op:
        batch_op.create_index("ix_evaluator_versions_evaluator_id_id", ["evaluator_id", "id"], unique=False)

    op.create_table(
        "spans",
        sa.Column("project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.String(length=16), nullable=True),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("span_kind", sa.String(length=32), nullable=False),
        sa.Column("status_code", sa.String(length=8), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=False),
        sa.Column("start_time", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("end_time", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("attributes", evalplane.db.types.JSONDocument(), nullable=False),
        sa.Column("events", evalplane.db.types.JSONDocument(), nullable=False),
        sa.Column("resource_attributes", evalplane.db.types.JSONDocument(), nullable=False),
        sa.Column("ingested_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_spans_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spans")),
        sa.UniqueConstraint("project_id", "trace_id", "span_id", name=op.f("uq_spans_project_id_trace_id_span_id")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.create_index("ix_spans_project_id_id", ["project_id", "id"], unique=False)
        batch_op.create_index("ix_spans_project_kind_start", ["project_id", "span_kind", "start_time"], unique=False)
        batch_op.create_index("ix_spans_project_latency", ["project_id", "latency_ms"], unique=False)
        batch_op.create_index("ix_spans_project_name_start", ["project_id", "name", "start_time"], unique=False)
        batch_op.create_index("ix_spans_project_span_id", ["project_id", "span_id"], unique=False)
        batch_op.create_index("ix_spans_project_start", ["project_id", "start_time"], unique=False)
        batch_op.create_index(
            "ix_spans_project_status_start", ["project_id", "status_code", "start_time"], unique=False
        )

    op.create_table(
        "tasks",
        sa.Column("space_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("dataset_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("sampling_rate", sa.Float(), nullable=True),
        sa.Column("is_continuous", sa.Boolean(), nullable=False),
        sa.Column("query_filter", sa.Text(), nullable=True),
        sa.Column(
            "query_filters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "run_configuration",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "experiment_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("last_run_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_by_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("continuous_cursor", sa.BigInteger(), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"], ["users.id"], name=op.f("fk_tasks_created_by_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_tasks_dataset_id_datasets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_tasks_project_id_projects"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["space_id"], ["spaces.id"], name=op.f("fk_tasks_space_id_spaces"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        sa.UniqueConstraint("space_id", "name", name=op.f("uq_tasks_space_id_name")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index("ix_tasks_dataset_id_id", ["dataset_id", "id"], unique=False)
        batch_op.create_index("ix_tasks_project_id_id", ["project_id", "id"], unique=False)
        batch_op.create_index("ix_tasks_space_id_id", ["space_id", "id"], unique=False)
        batch_op.create_index("ix_tasks_type_id", ["type", "id"], unique=False)

    op.create_table(
        "dataset_version_examples",
        sa.Column("version_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("example_id", sa.BigInteger(), nullable=False),
        sa.Column("example_row_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["example_row_id"],
            ["dataset_examples.id"],
            name=op.f("fk_dataset_version_examples_example_row_id_dataset_examples"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_dataset_version_examples_version_id_dataset_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", "example_id", name=op.f("pk_dataset_version_examples")),
    )
    with op.batch_alter_table("dataset_version_examples", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dataset_version_examples_example_row_id"), ["example_row_id"], unique=False
        )

    op.create_table(
        "experiments",
        sa.Column("space_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("dataset_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("dataset_version_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_by_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_experiments_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_experiments_dataset_id_datasets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["dataset_version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_experiments_dataset_version_id_dataset_versions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.id"], name=op.f("fk_experiments_space_id_spaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
        sa.UniqueConstraint("dataset_id", "name", name=op.f("uq_experiments_dataset_id_name")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.create_index("ix_experiments_space_id_id", ["space_id", "id"], unique=False)
        batch_op.create_index(
            "ux_experiments_standalone_space_id_name",
            ["space_id", "name"],
            unique=True,
            sqlite_where=sa.text("dataset_id IS NULL"),
            postgresql_where=sa.text("dataset_id IS NULL"),
        )

    op.create_table(
        "span_evaluations",
        sa.Column("span_row_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("label", sa.String(length=1024), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column("metadata", evalplane.db.types.JSONDocument(), nullable=True),
        sa.Column("task_id", sa.BigInteger(), nullable=True),
        sa.Column("task_run_id", sa.BigInteger(), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["span_row_id"], ["spans.id"], name=op.f("fk_span_evaluations_span_row_id_spans"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_span_evaluations")),
        sa.UniqueConstraint("span_row_id", "name", name=op.f("uq_span_evaluations_span_row_id_name")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("span_evaluations", schema=None) as batch_op:
        batch_op.create_index("ix_span_evaluations_name_label", ["name", "label"], unique=False)

    op.create_table(
        "task_evaluators",
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("evaluator_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("evaluator_version_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("query_filter", sa.Text(), nullable=True),
        sa.Column(
            "column_mappings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "query_mappings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["evaluator_id"],
            ["evaluators.id"],
            name=op.f("fk_task_evaluators_evaluator_id_evaluators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["evaluator_version_id"],
            ["evaluator_versions.id"],
            name=op.f("fk_task_evaluators_evaluator_version_id_evaluator_versions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_evaluators_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_evaluators")),
        sa.UniqueConstraint("task_id", "evaluator_id", name=op.f("uq_task_evaluators_task_id_evaluator_id")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("task_evaluators", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_evaluators_evaluator_id"), ["evaluator_id"], unique=False)

    op.create_table(
        "experiment_runs",
        sa.Column("experiment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("example_id", sa.String(length=255), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column(
            "annotations", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("started_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_runs_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_runs")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("experiment_runs", schema=None) as batch_op:
        batch_op.create_index("ix_experiment_runs_experiment_id_id", ["experiment_id", "id"], unique=False)

    op.create_table(
        "task_runs",
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("experiment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("run_started_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("run_finished_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("data_start_time", evalplane.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("data_end_time", evalplane.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("max_spans", sa.Integer(), nullable=True),
        sa.Column("override_evaluations", sa.Boolean(), nullable=False),
        sa.Column(
            "parameters", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("num_successes", sa.Integer(), nullable=False),
        sa.Column("num_errors", sa.Integer(), nullable=False),
        sa.Column("num_skipped", sa.Integer(), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("created_by_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_task_runs_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_task_runs_experiment_id_experiments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_task_runs_task_id_tasks"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_runs")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("task_runs", schema=None) as batch_op:
        batch_op.create_index("ix_task_runs_task_id_id", ["task_id", "id"], unique=False)
        batch_op.create_index(
            "uq_task_runs_one_active",
            ["task_id", "kind"],
            unique=True,
            sqlite_where=sa.text("status IN ('PENDING', 'RUNNING')"),
            postgresql_where=sa.text("status IN ('PENDING', 'RUNNING')"),
        )

    op.create_table(
        "experiment_run_evaluations",
        sa.Column("experiment_run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("label", sa.String(length=1024), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column("metadata", evalplane.db.types.JSONDocument(), nullable=True),
        sa.Column("task_id", sa.BigInteger(), nullable=True),
        sa.Column("task_run_id", sa.BigInteger(), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_run_id"],
            ["experiment_runs.id"],
            name=op.f("fk_experiment_run_evaluations_experiment_run_id_experiment_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_run_evaluations")),
        sa.UniqueConstraint(
            "experiment_run_id", "name", name=op.f("uq_experiment_run_evaluations_experiment_run_id_name")
        ),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "work_units",
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("evaluator_key", sa.BigInteger(), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("created_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", evalplane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["task_runs.id"], name=op.f("fk_work_units_run_id_task_runs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_work_units_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_units")),
        sa.UniqueConstraint(
            "task_id",
            "evaluator_key",
            "target_kind",
            "target_id",
            "fingerprint",
            name=op.f("uq_work_units_task_id_evaluator_key_target_kind_target_id_fingerprint"),
        ),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("work_units", schema=None) as batch_op:
        batch_op.create_index(
            "ix_work_units_claimable",
            ["not_before", "id"],
            unique=False,
            sqlite_where=sa.text("state = 'PENDING'"),
            postgresql_where=sa.text("state = 'PENDING'"),
        )
        batch_op.create_index(
            "ix_work_units_leased",
            ["lease_expires_at"],
            unique=False,
            sqlite_where=sa.text("state = 'LEASED'"),
            postgresql_where=sa.text("state = 'LEASED'"),
        )
        batch_op.create_index("ix_work_units_run_id_state", ["run_id", "state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("work_units", schema=None) as batch_op:
        batch_op.drop_index("ix_work_units_run_id_state")
        batch_op.drop_index(
            "ix_work_units_leased",
            sqlite_where=sa.text("state = 'LEASED'"),
            postgresql_where=sa.text("state = 'LEASED'"),
        )
        batch_op.drop_index(
            "ix_work_units_claimable",
            sqlite_where=sa.text("state = 'PENDING'"),
            postgresql_where=sa.text("state = 'PENDING'"),
        )

    op.drop_table("work_units")
    op.drop_table("experiment_run_evaluations")
    with op.batch_alter_table("task_runs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_task_runs_one_active",
            sqlite_where=sa.text("status IN ('PENDING', 'RUNNING')"),
            postgresql_where=sa.text("status IN ('PENDING', 'RUNNING')"),
        )
        batch_op.drop_index("ix_task_runs_task_id_id")

    op.drop_table("task_runs")
    with op.batch_alter_table("experiment_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_experiment_runs_experiment_id_id")

    op.drop_table("experiment_runs")
    with op.batch_alter_table("task_evaluators", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_evaluators_evaluator_id"))

    op.drop_table("task_evaluators")
    with op.batch_alter_table("span_evaluations", schema=None) as batch_op:
        batch_op.drop_index("ix_span_evaluations_name_label")

    op.drop_table("span_evaluations")
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_experiments_standalone_space_id_name",
            sqlite_where=sa.text("dataset_id IS NULL"),
            postgresql_where=sa.text("dataset_id IS NULL"),
        )
        batch_op.drop_index("ix_experiments_space_id_id")

    op.drop_table("experiments")
    with op.batch_alter_table("dataset_version_examples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dataset_version_examples_example_row_id"))

    op.drop_table("dataset_version_examples")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_type_id")
        batch_op.drop_index("ix_tasks_space_id_id")
        batch_op.drop_index("ix_tasks_project_id_id")
        batch_op.drop_index("ix_tasks_dataset_id_id")

    op.drop_table("tasks")
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.drop_index("ix_spans_project_status_start")
        batch_op.drop_index("ix_spans_project_start")
        batch_op.drop_index("ix_spans_project_span_id")
        batch_op.drop_index("ix_spans_project_name_start")
        batch_op.drop_index("ix_spans_project_latency")
        batch_op.drop_index("ix_spans_project_kind_start")
        batch_op.drop_index("ix_spans_project_id_id")

    op.drop_table("spans")
    with op.batch_alter_table("evaluator_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_evaluator_versions_evaluator_id_id")

    op.drop_table("evaluator_versions")
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_dataset_versions_dataset_id_id")

    op.drop_table("dataset_versions")
    with op.batch_alter_table("dataset_examples", schema=None) as batch_op:
        batch_op.drop_index("ix_dataset_examples_dataset_id_example_id")

    op.drop_table("dataset_examples")
    op.drop_table("projects")
    with op.batch_alter_table("evaluators", schema=None) as batch_op:
        batch_op.drop_index("ix_evaluators_space_id_id")

    op.drop_table("evaluators")
    op.drop_table("datasets")
    with op.batch_alter_table("ai_integration_scopings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ai_integration_scopings_space_id"))
        batch_op.drop_index(batch_op.f("ix_ai_integration_scopings_organization_id"))
        batch_op.drop_index(batch_op.f("ix_ai_integration_scopings_integration_id"))

    op.drop_table("ai_integration_scopings")
    op.drop_table("spaces")
    with op.batch_alter_table("role_bindings", schema=None) as batch_op:
        batch_op.drop_index("ix_role_bindings_resource")

    op.drop_table("role_bindings")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_user_id"))
        batch_op.drop_index(batch_op.f("ix_api_keys_previous_token_hash"))

    op.drop_table("api_keys")
    op.drop_table("ai_integrations")
    op.drop_table("users")
    op.drop_table("server_state")
    op.drop_table("roles")
    op.drop_table("organizations")
