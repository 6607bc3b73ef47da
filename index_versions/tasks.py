from celery import shared_task

from index_versions import services


@shared_task(name="index_versions.tasks.rebuild_version_task", acks_late=True, queue="sync")
def rebuild_version_task(version_id: int) -> None:
    services.index_version_rebuild_run(version_id=version_id)


@shared_task(name="index_versions.tasks.retention_task", acks_late=True, queue="sync")
def retention_task() -> None:
    services.index_versions_retain()
