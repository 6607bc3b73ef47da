"""Celery task names of index versions: pinned, since queued messages outlive deployments."""

REBUILD_VERSION_TASK = "index_versions.tasks.rebuild_version_task"
RETENTION_TASK = "index_versions.tasks.retention_task"
