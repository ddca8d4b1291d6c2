"""ORM models, one module per aggregate. Importing this package registers every table."""

from evalplane.db.models.ai_integrations import AiIntegration, AiIntegrationScoping
from evalplane.db.models.annotations import AnnotationConfig, SpanAnnotation
from evalplane.db.models.base import Base
from evalplane.db.models.datasets import Dataset, DatasetExample, DatasetVersion, DatasetVersionExample
from evalplane.db.models.evaluators import Evaluator, EvaluatorVersion
from evalplane.db.models.experiments import Experiment, ExperimentRun, ExperimentRunEvaluation
from evalplane.db.models.identity import ApiKey, Organization, Role, RoleBinding, ServerState, Space, User
from evalplane.db.models.projects import Project
from evalplane.db.models.spans import SessionEvaluation, Span, SpanEvaluation, TraceEvaluation
from evalplane.db.models.tasks import Task, TaskEvaluator, TaskRun
from evalplane.db.models.work_units import WorkUnit

__all__ = [
    "AiIntegration",
    "AiIntegrationScoping",
    "AnnotationConfig",
    "ApiKey",
    "Base",
    "Dataset",
    "DatasetExample",
    "DatasetVersion",
    "DatasetVersionExample",
    "Evaluator",
    "EvaluatorVersion",
    "Experiment",
    "ExperimentRun",
    "ExperimentRunEvaluation",
    "Organization",
    "Project",
    "Role",
    "RoleBinding",
    "ServerState",
    "Space",
    "Span",
    "SpanAnnotation",
    "SpanEvaluation",
    "TraceEvaluation",
    "SessionEvaluation",
    "Task",
    "TaskEvaluator",
    "TaskRun",
    "User",
    "WorkUnit",
]

# SQLite would otherwise hand a deleted row's id to the next insert; public ids must never
# come back pointing at a different resource, and keyset cursors rely on ids only growing.
for _table in Base.metadata.tables.values():
    if "id" in _table.c and _table.c.id.primary_key:
        _table.dialect_kwargs["sqlite_autoincrement"] = True
