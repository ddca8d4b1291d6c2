"""What tasks point to: projects, datasets (versions, examples), evaluators, AI integrations, experiments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from evalplane.db.models.base import Base, IdMixin, TimestampsMixin
from evalplane.db.types import JSONValue, UtcDateTime


class Project(IdMixin, TimestampsMixin, Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("space_id", "name"),)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")


class Dataset(IdMixin, TimestampsMixin, Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("space_id", "name"),)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class DatasetVersion(IdMixin, TimestampsMixin, Base):
    """An immutable snapshot of a dataset's examples; every write makes a new one."""

    __tablename__ = "dataset_versions"
    __table_args__ = (Index("ix_dataset_versions_dataset_id_id", "dataset_id", "id"),)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)


class DatasetExample(IdMixin, TimestampsMixin, Base):
    """One revision of one example. ``example_id`` is the public id shared by all revisions."""

    __tablename__ = "dataset_examples"
    __table_args__ = (Index("ix_dataset_examples_dataset_id_example_id", "dataset_id", "example_id"),)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False)
    example_id: Mapped[int] = mapped_column(Integer, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False)
    annotations: Mapped[list[Any]] = mapped_column(JSONValue, nullable=False, default=list)


class DatasetVersionExample(Base):
    """Membership: which example revisions make up a version."""

    __tablename__ = "dataset_version_examples"
    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True)
    example_row_id: Mapped[int] = mapped_column(ForeignKey("dataset_examples.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class Evaluator(IdMixin, TimestampsMixin, Base):
    __tablename__ = "evaluators"
    __table_args__ = (UniqueConstraint("space_id", "name"), Index("ix_evaluators_space_id_id", "space_id", "id"))
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(32), nullable=False)  # TEMPLATE | CODE
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class EvaluatorVersion(IdMixin, TimestampsMixin, Base):
    """An immutable configuration of an evaluator; the newest one is what tasks use by default."""

    __tablename__ = "evaluator_versions"
    __table_args__ = (Index("ix_evaluator_versions_evaluator_id_id", "evaluator_id", "id"),)
    evaluator_id: Mapped[int] = mapped_column(ForeignKey("evaluators.id", ondelete="CASCADE"), nullable=False)
    commit_message: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class AiIntegration(IdMixin, TimestampsMixin, Base):
    """Credentials and settings for an LLM provider; the API key is encrypted at rest."""

    __tablename__ = "ai_integrations"
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    provider: Mapped[str] = mapped_column(String(64), nullable=False)
    base_url: Mapped[str | None] = mapped_column(Text)
    model_names: Mapped[list[str] | None] = mapped_column(JSONValue)
    headers: Mapped[dict[str, str] | None] = mapped_column(JSONValue)
    api_key_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    enable_default_models: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    function_calling_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    auth_type: Mapped[str] = mapped_column(String(32), nullable=False, default="DEFAULT")
    provider_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class AiIntegrationScoping(IdMixin, Base):
    """Where an integration may be used: the whole account (both null), an organization, or a space."""

    __tablename__ = "ai_integration_scopings"
    integration_id: Mapped[int] = mapped_column(
        ForeignKey("ai_integrations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    space_id: Mapped[int | None] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), index=True)


class Experiment(IdMixin, TimestampsMixin, Base):
    __tablename__ = "experiments"
    __table_args__ = (UniqueConstraint("dataset_id", "name"), Index("ix_experiments_space_id_id", "space_id", "id"))
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False)
    dataset_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ExperimentRun(IdMixin, TimestampsMixin, Base):
    __tablename__ = "experiment_runs"
    __table_args__ = (Index("ix_experiment_runs_experiment_id_id", "experiment_id", "id"),)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False)
    example_id: Mapped[int | None] = mapped_column(Integer)
    output: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    annotations: Mapped[list[Any]] = mapped_column(JSONValue, nullable=False, default=list)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
