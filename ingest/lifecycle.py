"""A sync job's life: requested, claimed, cancelled, resumed when its worker died, ended.

A sync job runs in steps, each small enough for one Celery task (see
:mod:`ingest.runner`). Each step runs under a session advisory lock on the job:
the lock dies with the worker's connection, which is how a request tells a
running step from a dead one.
"""

import logging
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerOperationalError

from index_versions.models import GarbageCandidate
from ingest.task_names import SYNC_SOURCE_TASK, SYNC_STEP_TASK
from ragplatform.celery import enqueue_on_commit
from ragplatform.exceptions import Conflict, ErrorCode, Unavailable
from sources.models import Source, SyncItem, SyncJob
from sources.selectors import sources_due_for_sync

logger = logging.getLogger(__name__)

_JOB_LOCK_CLASS = 0x5_1C  # the first key of pg_try_advisory_lock(int, int); the job id is the second


def _stale_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "SYNC_STALE_AFTER_SECONDS", 600))


@contextmanager
def job_lock(job_id: int):
    """Hold the job's advisory lock for the block; yields False (and waits for nothing) if taken."""
    key = [_JOB_LOCK_CLASS, job_id % 2**31]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        locked = cursor.fetchone()[0]
    try:
        yield locked
    finally:
        if locked:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)


def sync_job_request(*, source: Source, requested_by=None) -> tuple[SyncJob, bool]:
    """Queue a sync of ``source``; if one is already queued or running, return that one.

    Returns ``(job, created)``. The task is enqueued only once the job row is
    committed, so a worker never looks for a job that does not exist yet. A job in
    flight whose worker died is resumed (see :func:`sync_job_resume_if_stale`).
    """
    if not source.enabled:
        raise Conflict(
            "The source is disabled; enable it before syncing.",
            code=ErrorCode.SOURCE_DISABLED,
        )
    job = None
    try:
        with transaction.atomic():
            job = SyncJob.objects.create(source=source, requested_by=requested_by, heartbeat_at=timezone.now())
            enqueue_on_commit(SYNC_SOURCE_TASK, job.pk)
        return job, True
    except BrokerOperationalError:
        # The row committed but its task could not be sent: end the job now rather than leave it queued.
        sync_job_end(job, status=SyncJob.Status.FAILED, message="not queued: the task queue (broker) is unreachable")
        raise Unavailable(
            f"The task queue (broker) is unreachable, so sync job {job.pk} could not be queued and has failed; "
            "request the sync again once the broker is back.",
            code=ErrorCode.BROKER_UNAVAILABLE,
            details={"job_id": job.pk},
        ) from None
    except IntegrityError:
        # The partial unique index says a job is in flight for this source.
        job = SyncJob.objects.get(source=source, status__in=SyncJob.IN_FLIGHT)
        sync_job_resume_if_stale(job=job)
        return job, False


def sync_job_resume_if_stale(*, job: SyncJob) -> bool:
    """Re-enqueue a job in flight that no task is working on and that made no progress lately.

    A worker killed mid-step leaves its message unacknowledged until the broker's
    visibility timeout (hours); this picks the job up sooner. The new attempt makes
    any older message of the job a no-op when it is delivered after all.
    """
    with transaction.atomic():
        job = SyncJob.objects.select_for_update().filter(pk=job.pk, status__in=SyncJob.IN_FLIGHT).first()
        if job is None or (job.heartbeat_at and job.heartbeat_at > timezone.now() - _stale_after()):
            return False
        with job_lock(job.pk) as free:
            if not free:
                return False  # a step is running right now
        job.heartbeat_at = timezone.now()
        if job.status == SyncJob.Status.QUEUED:
            job.save(update_fields=["heartbeat_at"])
            enqueue_on_commit(SYNC_SOURCE_TASK, job.pk)
        else:
            job.attempt += 1
            job.save(update_fields=["heartbeat_at", "attempt"])
            enqueue_on_commit(SYNC_STEP_TASK, job.pk, job.attempt)
        logger.warning("sync job %s had no live task; resumed (attempt %s, phase %s)", job.pk, job.attempt, job.phase)
        return True


def sync_jobs_resume_stale() -> list[SyncJob]:
    """Beat: resume every job in flight whose worker died."""
    stale = SyncJob.objects.filter(status__in=SyncJob.IN_FLIGHT, heartbeat_at__lt=timezone.now() - _stale_after())
    return [job for job in stale if sync_job_resume_if_stale(job=job)]


def sync_job_claim(*, job_id: int) -> SyncJob | None:
    """Move a queued job to running (attempt 1); ``None`` if another delivery already took it.

    A job of a source disabled meanwhile is cancelled instead: disabled sources are not synced.
    """
    with transaction.atomic():
        job = SyncJob.objects.select_for_update().select_related("source").filter(pk=job_id).first()
        if job is None or job.status != SyncJob.Status.QUEUED:
            return None
        if not job.source.enabled:
            sync_job_end(job, status=SyncJob.Status.CANCELLED, message="the source is disabled")
            return None
        job.status = SyncJob.Status.RUNNING
        job.started_at = job.heartbeat_at = timezone.now()
        job.attempt += 1
        job.phase = SyncJob.Phase.FETCH
        job.save(update_fields=["status", "started_at", "heartbeat_at", "attempt", "phase"])
        return job


@transaction.atomic
def sync_job_cancel(*, job: SyncJob, actor=None) -> SyncJob:
    """Stop a sync cleanly: it ends ``cancelled`` after its current step, with no new version."""
    job = SyncJob.objects.select_for_update().get(pk=job.pk)
    if job.is_finished:
        raise Conflict(f"Sync job {job.pk} is already {job.status}.", code=ErrorCode.NOT_CANCELLABLE)
    job.cancel_requested_at = timezone.now()
    job.save(update_fields=["cancel_requested_at"])
    with job_lock(job.pk) as free:
        if free:  # no step is running: end it now rather than at the next step
            sync_job_end(job, status=SyncJob.Status.CANCELLED, message=cancel_message(actor))
    return job


def cancel_message(actor) -> str:
    return f"cancelled by {actor}" if actor else "cancelled"


def sync_job_end(job: SyncJob, *, status: str, message: str = "") -> None:
    """Finish the job and drop its staged items; the version, if any, commits in the same transaction."""
    with transaction.atomic():
        job.status = status
        job.message = message[:500]
        job.finished_at = timezone.now()
        if job.progress_total is None or status == SyncJob.Status.SUCCEEDED or status == SyncJob.Status.PARTIAL:
            total = SyncItem.objects.filter(job=job).count()
            job.progress_total = total if job.progress_total is None else job.progress_total
            if status in (SyncJob.Status.SUCCEEDED, SyncJob.Status.PARTIAL):
                job.progress_done = job.progress_total
        fields = ["status", "message", "finished_at", "counts", "errors", "index_version"]
        job.save(update_fields=[*fields, "progress_done", "progress_total"])
        if job.index_version_id is None:
            # What this job stored but no version took in is garbage unless a later sync uses it.
            GarbageCandidate.objects.bulk_create(
                [
                    GarbageCandidate(revision_id=revision_id)
                    for revision_id in SyncItem.objects.filter(job=job, revision__isnull=False)
                    .exclude(state=SyncItem.State.UNCHANGED)
                    .values_list("revision_id", flat=True)
                ],
                ignore_conflicts=True,
            )
        SyncItem.objects.filter(job=job).delete()
        if status in (SyncJob.Status.SUCCEEDED, SyncJob.Status.PARTIAL):
            Source.objects.filter(pk=job.source_id).update(last_synced_at=job.finished_at)


def sync_due_sources_request() -> list[SyncJob]:
    """Queue a sync for every source whose interval has passed (called by Celery beat)."""
    return [sync_job_request(source=source)[0] for source in sources_due_for_sync(now=timezone.now())]
