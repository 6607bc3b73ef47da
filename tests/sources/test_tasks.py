"""Sync through a real Celery worker process and the real broker (no eager mode)."""

import pytest

from index_versions.services import index_version_active
from retrieval.selectors import search
from sources.models import SyncJob
from sources.services import sync_job_request


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
    hits = search(user=alice, query="how long is parental leave", k=3).results
    assert [hit.document_title for hit in hits] == ["Parental leave"]
