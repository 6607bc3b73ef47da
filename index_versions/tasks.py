"""Celery tasks of index versions: thin, each calls one service."""

from celery import shared_task

from index_versions.services.building import index_version_rebuild_run
from index_versions.services.retention import index_versions_retain
from index_versions.task_names import REBUILD_VERSION_TASK, RETENTION_TASK


@shared_task(name=REBUILD_VERSION_TASK, acks_late=True, queue="sync")
def rebuild_version_task(version_id: int) -> None:
    index_version_rebuild_run(version_id=version_id)


@shared_task(name=RETENTION_TASK, acks_late=True, queue="sync")
def retention_task() -> None:
    index_versions_retain()
