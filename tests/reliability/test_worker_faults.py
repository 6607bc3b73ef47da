"""Workers killed in each step of a sync, tasks delivered twice, workers racing: one version, every document once.

A worker is stopped exactly where a test wants it by a lock held from a second connection (a write to a table
the step needs, or the version-history lock), then killed with SIGKILL; the suite's shared worker resumes the
job the way production does (the next request finds it stale).
"""

import pytest
from django.db.models import Count

from index_versions.models import IndexVersion
from index_versions.selectors import index_version_active, version_revisions
from ingest.lifecycle import sync_job_request
from ingest.task_names import SYNC_SOURCE_TASK, SYNC_STEP_TASK
from ragplatform.celery import app
from sources.models import Document, DocumentRevision, Source, SyncJob
from sources.services.crud import source_create
from tests.reliability.conftest import job_lock_held, kill, table_locked, versions_locked, wait_for, waiting_on

DOCUMENTS = 30


def _files(prefix: str, count: int = DOCUMENTS) -> dict[str, str]:
    return {f"{prefix}{i:03}.md": f"# {prefix} {i}\n\n{prefix} fact {i} about area {i * 7}. " * 5 for i in range(count)}


def _finished(job: SyncJob) -> SyncJob:
    return wait_for(lambda: SyncJob.objects.filter(pk=job.pk).exclude(status__in=SyncJob.IN_FLIGHT).first())


def _assert_complete_once(source: Source, count: int = DOCUMENTS) -> None:
    """The active version holds every document of ``source`` exactly once, each with one revision."""
    active = index_version_active()
    assert Document.objects.filter(source=source).count() == count
    assert DocumentRevision.objects.filter(document__source=source).count() == count
    assert not Document.objects.values("source", "external_id").annotate(n=Count("pk")).filter(n__gt=1).exists()
    assert len(version_revisions(active, source_id=source.pk)) == count


@pytest.fixture
def shared_worker_paused(celery_worker_process, sync_queue_to_ourselves):
    """The suite's shared worker takes no sync task until ``resume()``; our victims have the queue to themselves."""
    name = celery_worker_process.args[celery_worker_process.args.index("--hostname") + 1]

    def resume() -> None:
        app.control.add_consumer("sync", destination=[name], reply=True)

    return resume


# Where each step is held: (what is locked, the lock a waiting worker shows in pg_locks).
HOLDS = {
    "fetch": lambda conn: table_locked(conn, "sources_syncitem"),  # its first write: clearing the staged items
    "batch": lambda conn: table_locked(conn, "sources_documentrevision"),  # a batch storing its revisions
    "finish": versions_locked,  # the build and activation, under the version-history lock
}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("step", list(HOLDS))
def test_a_worker_killed_in_a_step_leaves_no_version_and_the_resumed_job_stores_every_document_once(
    step, shared_worker_paused, start_worker, side_connection, write_folder, settings
):
    source = source_create(name=f"killed-{step}", kind="folder", config={"path": str(write_folder(step, _files("d")))})
    victim = start_worker(f"victim-{step}", SYNC_BATCH_DOCUMENTS="10", MODELS_WARM_UP="false")
    hold = HOLDS[step](side_connection)
    if step != "batch":
        hold.__enter__()  # before the sync starts: the step waits as soon as it reaches the lock
    job, _ = sync_job_request(source=source)
    if step == "batch":  # once a first batch is stored, so that the kill lands between finished and pending work
        wait_for(lambda: SyncJob.objects.filter(pk=job.pk, phase=SyncJob.Phase.PROCESS, progress_done__gte=10).exists())
        hold.__enter__()
    lock_waited = {"fetch": {"relation": "sources_syncitem"}, "batch": {"relation": "sources_documentrevision"}}
    wait_for(lambda: waiting_on(side_connection, **lock_waited.get(step, {"advisory": 0x1D5_0001})))
    held = SyncJob.objects.get(pk=job.pk)
    assert held.phase == {"fetch": "fetch", "batch": "process", "finish": "finish"}[step]
    kill(victim)
    hold.__exit__(None, None, None)
    wait_for(lambda: not job_lock_held(side_connection, job.pk))  # its session ended with the process

    assert not IndexVersion.objects.exists()  # nothing half-built is visible
    assert SyncJob.objects.get(pk=job.pk).status == SyncJob.Status.RUNNING
    # The step's message died unacknowledged with the worker; a copy of it is delivered again (as the broker
    # does after its visibility timeout): an older attempt's step, it must do nothing once the job is resumed.
    settings.SYNC_STALE_AFTER_SECONDS = 0
    again, created = sync_job_request(source=source)  # the next request finds the job dead and resumes it
    assert (again.pk, created) == (job.pk, False)
    app.send_task(SYNC_STEP_TASK, args=(job.pk, held.attempt))
    shared_worker_paused()
    job = _finished(job)

    assert job.status == SyncJob.Status.SUCCEEDED, job.message
    assert job.attempt == held.attempt + 1 and job.counts["added"] == DOCUMENTS
    assert IndexVersion.objects.count() == 1 and job.index_version == index_version_active()
    assert job.index_version.counts["documents"] == DOCUMENTS
    _assert_complete_once(source)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_every_task_of_a_sync_delivered_twice_makes_one_version(
    celery_worker_process, start_worker, write_folder, wait_until
):
    source = source_create(name="twice", kind="folder", config={"path": str(write_folder("twice", _files("t")))})
    start_worker("second", SYNC_BATCH_DOCUMENTS="10", MODELS_WARM_UP="false")  # two consumers of every copy
    job, _ = sync_job_request(source=source)
    app.send_task(SYNC_SOURCE_TASK, args=(job.pk,))  # the claim, delivered again
    running = wait_until(lambda: SyncJob.objects.filter(pk=job.pk, status=SyncJob.Status.RUNNING).first())
    for _ in range(3):  # and the current attempt's step, three more times, while the chain runs
        app.send_task(SYNC_STEP_TASK, args=(job.pk, running.attempt))
    job = _finished(job)
    assert job.status == SyncJob.Status.SUCCEEDED and job.attempt == 1, job.message
    assert job.counts["added"] == DOCUMENTS
    assert IndexVersion.objects.count() == 1
    _assert_complete_once(source)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_on_the_same_and_on_different_sources_sync_each_once(
    celery_worker_process, start_worker, write_folder
):
    start_worker("racer", SYNC_BATCH_DOCUMENTS="10", MODELS_WARM_UP="false")
    one = source_create(name="one", kind="folder", config={"path": str(write_folder("one", _files("a")))})
    other = source_create(name="other", kind="folder", config={"path": str(write_folder("other", _files("b", 20)))})
    first, created = sync_job_request(source=one)
    again, created_again = sync_job_request(source=one)  # a second request while it is in flight
    assert created and not created_again and again.pk == first.pk
    app.send_task(SYNC_SOURCE_TASK, args=(first.pk,))  # both workers get a claim of the same job
    second, _ = sync_job_request(source=other)
    first, second = _finished(first), _finished(second)

    assert (first.status, second.status) == (SyncJob.Status.SUCCEEDED, SyncJob.Status.SUCCEEDED)
    assert SyncJob.objects.filter(source=one).count() == 1 and SyncJob.objects.filter(source=other).count() == 1
    assert IndexVersion.objects.count() == 2  # one per sync; the later one built on the earlier
    _assert_complete_once(one)
    _assert_complete_once(other, 20)
