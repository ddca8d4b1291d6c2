"""Permission names a role can hold, and the space level each set of permissions amounts to.

Access checks here are coarse: every role maps to one level on a space (READ_ONLY, MEMBER,
ADMIN). Predefined roles list the permissions their level implies; a custom role's level is
derived from its permissions, so a role with any write permission is a writer, and one with
any permission that manages access or the space itself is an admin.
"""

from __future__ import annotations

PERMISSIONS: tuple[str, ...] = (
    "AGENT_ROLE_CREATE",
    "AGENT_ROLE_DELETE",
    "AGENT_ROLE_READ",
    "AGENT_ROLE_UPDATE",
    "AI_PROVIDER_READ",
    "ALYX_RUN",
    "ANNOTATION_CONFIG_CREATE",
    "ANNOTATION_CONFIG_DELETE",
    "ANNOTATION_CONFIG_READ",
    "ANNOTATION_CONFIG_UPDATE",
    "COST_CONFIG_CREATE",
    "COST_CONFIG_DELETE",
    "COST_CONFIG_READ",
    "COST_CONFIG_UPDATE",
    "CUSTOM_METRIC_CREATE",
    "CUSTOM_METRIC_DELETE",
    "CUSTOM_METRIC_READ",
    "CUSTOM_METRIC_UPDATE",
    "DASHBOARD_CREATE",
    "DASHBOARD_DELETE",
    "DASHBOARD_READ",
    "DASHBOARD_RESTRICT",
    "DASHBOARD_TEMPLATE_CREATE",
    "DASHBOARD_TEMPLATE_DELETE",
    "DASHBOARD_TEMPLATE_READ",
    "DASHBOARD_TEMPLATE_UPDATE",
    "DASHBOARD_UPDATE",
    "DATASET_CREATE",
    "DATASET_DELETE",
    "DATASET_EXAMPLE_ANNOTATE",
    "DATASET_EXAMPLE_CREATE",
    "DATASET_EXAMPLE_DELETE",
    "DATASET_EXAMPLE_READ",
    "DATASET_EXAMPLE_UPDATE",
    "DATASET_READ",
    "DATASET_UPDATE",
    "DATASET_VIEW_CREATE",
    "DATASET_VIEW_DELETE",
    "DATASET_VIEW_READ",
    "DATASET_VIEW_UPDATE",
    "DATA_FABRIC_CONNECTOR_CREATE",
    "DATA_FABRIC_CONNECTOR_DELETE",
    "DATA_FABRIC_CONNECTOR_READ",
    "DATA_FABRIC_CONNECTOR_UPDATE",
    "EVALUATOR_CREATE",
    "EVALUATOR_DELETE",
    "EVALUATOR_READ",
    "EVALUATOR_UPDATE",
    "EXPERIMENT_CREATE",
    "EXPERIMENT_DELETE",
    "EXPERIMENT_EVAL_TASK_CREATE",
    "EXPERIMENT_EVAL_TASK_DELETE",
    "EXPERIMENT_EVAL_TASK_READ",
    "EXPERIMENT_EVAL_TASK_UPDATE",
    "EXPERIMENT_READ",
    "EXPERIMENT_RUN_ANNOTATE",
    "EXPERIMENT_RUN_READ",
    "EXPERIMENT_UPDATE",
    "FILE_IMPORT_CREATE",
    "FILE_IMPORT_DELETE",
    "FILE_IMPORT_READ",
    "FILE_IMPORT_UPDATE",
    "LLM_INTEGRATION_CREATE",
    "LLM_INTEGRATION_DELETE",
    "LLM_INTEGRATION_UPDATE",
    "MANAGED_AGENT_CREATE",
    "MANAGED_AGENT_DELETE",
    "MANAGED_AGENT_READ",
    "MANAGED_AGENT_UPDATE",
    "ML_MODEL_CREATE",
    "ML_MODEL_DELETE",
    "ML_MODEL_READ",
    "ML_MODEL_UPDATE",
    "MONITOR_CREATE",
    "MONITOR_DELETE",
    "MONITOR_READ",
    "MONITOR_TRIGGER",
    "MONITOR_UPDATE",
    "ORGANIZATION_CREATE",
    "ORGANIZATION_DELETE",
    "ORGANIZATION_READ",
    "ORGANIZATION_UPDATE",
    "PLAYGROUND_RUN",
    "PLAYGROUND_VIEW_CREATE",
    "PLAYGROUND_VIEW_DELETE",
    "PLAYGROUND_VIEW_READ",
    "PLAYGROUND_VIEW_UPDATE",
    "PROJECT_CREATE",
    "PROJECT_DELETE",
    "PROJECT_EVAL_TASK_CREATE",
    "PROJECT_EVAL_TASK_DELETE",
    "PROJECT_EVAL_TASK_READ",
    "PROJECT_EVAL_TASK_UPDATE",
    "PROJECT_READ",
    "PROJECT_RESTRICT",
    "PROJECT_SPAN_ANNOTATE",
    "PROJECT_SPAN_CREATE",
    "PROJECT_SPAN_DELETE",
    "PROJECT_SPAN_EVAL_FEEDBACK_UPDATE",
    "PROJECT_SPAN_READ",
    "PROJECT_SPAN_UPDATE",
    "PROJECT_UPDATE",
    "PROMPT_CREATE",
    "PROMPT_DELETE",
    "PROMPT_OPTIMIZE_TASK_CREATE",
    "PROMPT_OPTIMIZE_TASK_DELETE",
    "PROMPT_OPTIMIZE_TASK_READ",
    "PROMPT_OPTIMIZE_TASK_UPDATE",
    "PROMPT_READ",
    "PROMPT_RESTRICT",
    "PROMPT_UPDATE",
    "QUEUE_CREATE",
    "QUEUE_DELETE",
    "QUEUE_READ",
    "QUEUE_RECORD_ANNOTATE",
    "QUEUE_RECORD_CREATE",
    "QUEUE_RECORD_DELETE",
    "QUEUE_RECORD_READ",
    "QUEUE_RECORD_UPDATE",
    "QUEUE_UPDATE",
    "REMOTE_ENDPOINT_INTEGRATION_CREATE",
    "REMOTE_ENDPOINT_INTEGRATION_DELETE",
    "REMOTE_ENDPOINT_INTEGRATION_READ",
    "REMOTE_ENDPOINT_INTEGRATION_UPDATE",
    "ROLE_BINDING_CREATE",
    "ROLE_BINDING_DELETE",
    "ROLE_BINDING_READ",
    "ROLE_CREATE",
    "ROLE_DELETE",
    "ROLE_READ",
    "ROLE_UPDATE",
    "SERVICE_KEY_CREATE",
    "SERVICE_KEY_READ",
    "SERVICE_KEY_REVOKE",
    "SPACE_CREATE",
    "SPACE_DELETE",
    "SPACE_READ",
    "SPACE_UPDATE",
    "TAG_CREATE",
    "TAG_DELETE",
    "TAG_READ",
    "TAG_UPDATE",
    "TRACE_VIEW_CREATE",
    "TRACE_VIEW_DELETE",
    "TRACE_VIEW_READ",
    "TRACE_VIEW_UPDATE",
    "USER_CREATE",
    "USER_DELETE",
    "USER_PERMISSION_UPDATE",
    "USER_READ",
    "USER_UPDATE",
)

_KNOWN = frozenset(PERMISSIONS)

# Permissions that manage who may do what, or the containers themselves: ADMIN only.
ADMIN_ONLY = frozenset(
    p
    for p in PERMISSIONS
    if not p.endswith("_READ")
    and (
        p.startswith(("ROLE_", "USER_", "ORGANIZATION_", "SERVICE_KEY_REVOKE"))
        or p in ("SPACE_CREATE", "SPACE_UPDATE", "SPACE_DELETE")
        or p.endswith("_RESTRICT")
    )
)
READ_ONLY = frozenset(p for p in PERMISSIONS if p.endswith("_READ"))


def unknown(permissions: list[str]) -> list[str]:
    return [p for p in permissions if p not in _KNOWN]


def for_level(level: str) -> list[str]:
    """The permissions a predefined role of ``level`` holds, in a stable order."""
    if level == "ADMIN":
        return list(PERMISSIONS)
    if level == "MEMBER":
        return [p for p in PERMISSIONS if p not in ADMIN_ONLY]
    return [p for p in PERMISSIONS if p in READ_ONLY]


def level_of(permissions: list[str]) -> str:
    """The space level a custom role with these permissions grants."""
    held = set(permissions)
    if held & ADMIN_ONLY:
        return "ADMIN"
    if held - READ_ONLY:
        return "MEMBER"
    return "READ_ONLY"
