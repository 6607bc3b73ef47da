from celery import shared_task

from sources import services


@shared_task(name="sources.tasks.sync_source_task", acks_late=True)
def sync_source_task(job_id: int) -> None:
    """Run sync job ``job_id``; a redelivered or duplicate message finds it already taken."""
    services.sync_job_run(job_id=job_id)
