"""The SQL budget of a sync batch: a fixed number of statements, plus a fixed figure per document.

Two batch sizes pin both numbers: a store that went back to a statement per chunk or
per row would change the per-document figure, and a new lookup per batch the fixed one.
"""

import pytest

from ingest.lifecycle import sync_job_claim
from ingest.steps.fetch import sync_fetch
from ingest.steps.process import sync_process_batches
from sources.models import SyncItem, SyncJob

# Pending items, the pipeline, the look for a next batch (is the job still ours, any items
# left), the store (documents, revisions, access lists), the chunks, their postings and
# embeddings (written per group of the overlapped process step), the duplicate signatures,
# then the bookkeeping (purged check, items, job), each a set-based statement or a few:
# nothing is per document.
BATCH_QUERIES = 38
BATCH_QUERIES_PER_DOCUMENT = 0


def _fetched_job(source) -> SyncJob:
    job = sync_job_claim(job_id=SyncJob.objects.create(source=source).pk)
    sync_fetch(job)
    job.refresh_from_db()
    assert job.phase == SyncJob.Phase.PROCESS
    return job


@pytest.mark.parametrize("documents", [2, 5])
def test_a_sync_batch_runs_a_fixed_number_of_queries_plus_a_fixed_figure_per_document(
    folder_source, django_assert_num_queries, settings, documents
):
    settings.SYNC_BATCH_DOCUMENTS = 100  # one batch takes them all
    files = {f"doc{n}.md": f"# Topic {n}\n\nFact number {n} about area {n * 13}." for n in range(documents)}
    job = _fetched_job(folder_source("wiki", files))
    with django_assert_num_queries(BATCH_QUERIES + BATCH_QUERIES_PER_DOCUMENT * documents):
        sync_process_batches(job)
    assert SyncItem.objects.filter(job=job, state=SyncItem.State.DONE).count() == documents
