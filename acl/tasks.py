from celery import shared_task

from acl.services import audit_purge


@shared_task
def audit_purge_task() -> int:
    """Daily (Celery beat): apply the audit retention."""
    return audit_purge()
