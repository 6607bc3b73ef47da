"""Reads of the console's pages: health, per-source status, undo plans, and who may read what and why.

The console is the top layer: these read through the apps' public selectors
(:mod:`index_versions.selectors`, :mod:`acl.selectors`), never the membership
table itself, so the pages keep working when a version's storage changes. One module
per page family; the names are re-exported here for ``from console import selectors``.
"""

from console.selectors.access import (
    AccessDecision,
    GrantPath,
    SourceAccess,
    SourceReaders,
    access_explain,
    active_users_count,
    everyone_group_name,
    source_readers_list,
    user_effective_access,
    user_grant_paths,
    user_groups,
    user_principal_names,
)
from console.selectors.health import (
    QueueWorkers,
    ServiceCheck,
    broker_check,
    database_check,
    expected_queues,
    workers_by_queue,
)
from console.selectors.sources import (
    NextRun,
    SourceStatus,
    SyncProgress,
    UndoPlan,
    latest_finished_jobs,
    running_jobs,
    source_document_count,
    source_next_run,
    source_statuses,
    source_undo_plan,
    stale_sync_jobs,
    sync_job_history,
    sync_job_progress,
)
from console.selectors.versions import (
    ActiveVersion,
    activation_reason_label,
    active_version_summary,
    evaluation_summary,
    latest_evaluation_subquery,
    versions_held_by_gate,
)

__all__ = [
    "AccessDecision",
    "ActiveVersion",
    "GrantPath",
    "NextRun",
    "QueueWorkers",
    "ServiceCheck",
    "SourceAccess",
    "SourceReaders",
    "SourceStatus",
    "SyncProgress",
    "UndoPlan",
    "access_explain",
    "activation_reason_label",
    "active_users_count",
    "active_version_summary",
    "broker_check",
    "database_check",
    "evaluation_summary",
    "everyone_group_name",
    "expected_queues",
    "latest_evaluation_subquery",
    "latest_finished_jobs",
    "running_jobs",
    "source_document_count",
    "source_next_run",
    "source_readers_list",
    "source_statuses",
    "source_undo_plan",
    "stale_sync_jobs",
    "sync_job_history",
    "sync_job_progress",
    "user_effective_access",
    "user_grant_paths",
    "user_groups",
    "user_principal_names",
    "versions_held_by_gate",
    "workers_by_queue",
]
