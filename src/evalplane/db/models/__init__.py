"""ORM models, one module per aggregate. Importing this package registers every table."""

from evalplane.db.models.base import Base
from evalplane.db.models.identity import ApiKey, Organization, Role, RoleBinding, ServerState, Space, User
from evalplane.db.models.ai_integrations import AiIntegration, AiIntegrationScoping
from evalplane.db.models.datasets import Dataset, DatasetExample, DatasetVersion, DatasetVersionExample
from evalplane.db.models.evaluators import Evaluator, EvaluatorVersion
from evalplane.db.models.experiments import Experiment, ExperimentRun
from evalplane.db.models.projects import Project
from evalplane.db.models.spans import Span, SpanEvaluation
from evalplane.db.models.tasks import Task, TaskEvaluator, TaskRun

__all__ = [
    "AiIntegration",
    "AiIntegrationScoping",
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
    "Organization",
    "Project",
    "Role",
    "RoleBinding",
    "ServerState",
    "Space",
    "Span",
    "SpanEvaluation",
    "Task",
    "TaskEvaluator",
    "TaskRun",
    "User",
]
