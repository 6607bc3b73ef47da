"""Celery task names of the sync: pinned (they predate this app), since queued messages outlive deployments."""

SYNC_SOURCE_TASK = "sources.tasks.sync_source_task"
SYNC_STEP_TASK = "sources.tasks.sync_step_task"
SYNC_DUE_SOURCES_TASK = "sources.tasks.sync_due_sources_task"
