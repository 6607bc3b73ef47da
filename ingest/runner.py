"""Running a sync job step by step: fetch, then batches of documents, then the version build.

Steps are idempotent and run under the job's lock; a step of an older attempt,
or one whose job another task holds, does nothing.
"""

import logging

from django.db import InterfaceError, OperationalError
from django.utils import timezone

from ingest.lifecycle import cancel_message, job_lock, sync_job_claim, sync_job_end
from ingest.steps.fetch import sync_fetch
from ingest.steps.finish import sync_finish
from ingest.steps.process import sync_process_batches
from sources.models import SyncJob

logger = logging.getLogger(__name__)


def sync_job_run(*, job_id: int, progress=None) -> SyncJob | None:
    """Run a queued sync job to its end in this process (tests, ``manage.py sync_source``).

    Idempotent: a job that is not queued any more (a redelivered task) is left alone.
    ``progress(done, total)`` is called after each step.
    """
    job = sync_job_claim(job_id=job_id)
    if job is None:
        return None
    while sync_job_advance(job_id=job.pk, attempt=job.attempt):
        if progress is not None:
            job.refresh_from_db(fields=["progress_done", "progress_total"])
            progress(job.progress_done, job.progress_total)
    job.refresh_from_db()
    if progress is not None:
        progress(job.progress_done, job.progress_total)
    return job


def sync_job_advance(*, job_id: int, attempt: int) -> bool:
    """Run the next step of a running job; ``True`` while more steps remain.

    Safe to call twice for the same step (a redelivered task): steps are idempotent,
    and one of an older ``attempt`` or one whose job another task holds does nothing.
    Transient database errors propagate, for the task to retry; any other error
    fails the job with the reason.
    """
    with job_lock(job_id) as locked:
        if not locked:
            return False
        job = SyncJob.objects.select_related("source").filter(pk=job_id).first()
        if job is None or job.status != SyncJob.Status.RUNNING or job.attempt != attempt:
            return False
        try:
            if job.cancel_requested_at is not None:
                sync_job_end(job, status=SyncJob.Status.CANCELLED, message=cancel_message(None))
                return False
            SyncJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
            if job.phase == SyncJob.Phase.FETCH:
                sync_fetch(job)
                return True
            if job.phase == SyncJob.Phase.PROCESS:
                sync_process_batches(job)
                return True
            sync_finish(job)
            return False
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:
            logger.exception("sync job %s failed", job.pk)
            sync_job_end(job, status=SyncJob.Status.FAILED, message=f"{type(exc).__name__}: {exc}")
            return False
