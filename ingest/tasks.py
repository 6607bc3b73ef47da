"""Celery tasks of the sync: thin, idempotent, each loads a job by id and calls a service.

A sync is a chain: ``sync_source_task`` claims the job, then ``sync_step_task``
runs one step (the fetch, one batch of documents, or the final build) and
enqueues the next, so no single task runs for hours. With ``acks_late`` (and
``reject_on_worker_lost``) a step interrupted by a dying worker is delivered again;
``sync_due_sources_task`` also resumes jobs left without a live task. The names
are pinned (:mod:`ingest.task_names`): queued messages outlive deployments.
"""

from celery import shared_task
from django.db import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from ingest import lifecycle, runner
from ingest.task_names import SYNC_DUE_SOURCES_TASK, SYNC_SOURCE_TASK, SYNC_STEP_TASK

# Transient: the database or the broker was briefly unreachable. Retried with backoff.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, RedisConnectionError)
_RETRY = {"autoretry_for": TRANSIENT_ERRORS, "retry_backoff": 5, "retry_backoff_max": 300, "max_retries": 8}


@shared_task(name=SYNC_SOURCE_TASK, acks_late=True, **_RETRY)
def sync_source_task(job_id: int) -> None:
    """Claim queued job ``job_id`` and start its steps; a redelivered message finds it taken."""
    job = lifecycle.sync_job_claim(job_id=job_id)
    if job is not None:
        sync_step_task.delay(job.pk, job.attempt)


@shared_task(name=SYNC_STEP_TASK, acks_late=True, **_RETRY)
def sync_step_task(job_id: int, attempt: int) -> None:
    """Run the next step of job ``job_id``, then enqueue the one after it."""
    if runner.sync_job_advance(job_id=job_id, attempt=attempt):
        sync_step_task.delay(job_id, attempt)


@shared_task(name=SYNC_DUE_SOURCES_TASK)
def sync_due_sources_task() -> None:
    """Beat's minute tick: resume syncs whose worker died, then queue the syncs whose interval has passed."""
    lifecycle.sync_jobs_resume_stale()
    lifecycle.sync_due_sources_request()
