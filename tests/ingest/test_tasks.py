"""Sync through real Celery worker processes and the real broker (no eager mode)."""

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from index_versions.models import IndexVersion
from index_versions.selectors import index_version_active
from ingest.lifecycle import sync_job_request
from retrieval.search import search
from sources.models import SyncJob
from sources.services.crud import source_create


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_runs_a_requested_sync_and_search_sees_it(
    celery_worker_process, folder_source, grant, alice, wait_until
):
    source = folder_source("wiki", {"leave.md": "# Parental leave\n\nEmployees get twenty weeks of paid leave."})
    grant(source, user=alice)

    job, created = sync_job_request(source=source)  # enqueued on commit, picked up by the worker

    assert created
    job = wait_until(lambda: SyncJob.objects.filter(pk=job.pk).exclude(status__in=SyncJob.IN_FLIGHT).first())
    assert job.status == SyncJob.Status.SUCCEEDED, job.message
    assert job.index_version == index_version_active()
    assert (job.progress_done, job.progress_total) == (1, 1)
    hits = search(user=alice, query="how long is parental leave", k=3).results
    assert [hit.document_title for hit in hits] == ["Parental leave"]


def _start_worker(name: str, log: Path) -> subprocess.Popen:
    from django.db import connection

    from tests.conftest import _database_url, _wait_for_worker

    env = {
        **os.environ,
        "DATABASE_URL": _database_url(connection.settings_dict),
        "REDIS_URL": settings.CELERY_BROKER_URL,
        "SOURCE_ALLOWED_PATHS": ":".join(settings.SOURCE_ALLOWED_PATHS),  # the tests' tmp_path included
        "PYTHONUNBUFFERED": "1",
    }
    with open(log, "a") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "ragplatform", "worker", "--pool", "solo",
                "--queues", "sync", "--hostname", name, "--without-gossip", "--without-mingle", "--loglevel", "INFO",
            ],
            env=env, cwd=settings.BASE_DIR, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    _wait_for_worker(name, process, log)
    return process


@pytest.fixture
def sync_queue_to_ourselves():
    """Other workers of this test session stop taking sync tasks, so the one we kill is the one working."""
    from ragplatform.celery import app

    others = [name for reply in app.control.ping(timeout=1.0) for name in reply]
    if others:
        app.control.cancel_consumer("sync", destination=others, reply=True)
    yield
    if others:
        app.control.add_consumer("sync", destination=others, reply=True)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_sync_leaves_no_half_version_and_the_next_run_completes_it(
    sync_queue_to_ourselves, write_folder, wait_until, settings
):
    files = {
        f"doc{i:03}.md": f"# Topic {i}\n\n" + f"Fact {i} about area {i * 13} and team {i % 17}. " * 8
        for i in range(400)
    }
    source = source_create(name="big", kind="folder", config={"path": str(write_folder("big", files))})
    log = Path(settings.BASE_DIR) / ".data" / "test-worker-kill.log"
    log.write_text("")
    worker = _start_worker(f"kill-{uuid.uuid4().hex[:6]}@localhost", log)
    try:
        job, _ = sync_job_request(source=source)
        # Killed once a first batch is stored and while the next ones are being embedded.
        wait_until(lambda: SyncJob.objects.filter(pk=job.pk, progress_done__gt=0).exists(), interval=0.05)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    finally:
        if worker.poll() is None:
            worker.kill()
    job.refresh_from_db()
    assert job.status == SyncJob.Status.RUNNING and 0 < job.progress_done < 400
    assert not IndexVersion.objects.exists()  # nothing half-built is visible

    restarted = _start_worker(f"restarted-{uuid.uuid4().hex[:6]}@localhost", log)
    try:
        settings.SYNC_STALE_AFTER_SECONDS = 0
        again, created = sync_job_request(source=source)  # the next request finds the job dead and resumes it
        assert (again.pk, created) == (job.pk, False)
        job = wait_until(lambda: SyncJob.objects.filter(pk=job.pk).exclude(status__in=SyncJob.IN_FLIGHT).first())
    finally:
        restarted.terminate()
        restarted.wait(timeout=30)
    assert job.status == SyncJob.Status.SUCCEEDED, job.message
    # Either the request resumed the dead job (attempt 2), or the chain's next batch task, already
    # queued when the worker died, carried it on (attempt 1): both complete it exactly once.
    assert job.counts["added"] == 400 and job.attempt in (1, 2)
    assert job.index_version == index_version_active()
    assert job.index_version.counts["documents"] == 400
