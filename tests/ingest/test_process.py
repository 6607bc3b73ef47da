"""The process step's overlapped pipeline: parse ahead, embed one group while the next is stored.

Mirrors ``ingest/steps/process.py``. Real parser process, real model, real database.
"""

from collections import Counter

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from index_versions import embedding
from index_versions.models import Chunk, Embedding, IndexVersion, KeywordPosting
from ingest.lifecycle import sync_job_claim
from ingest.runner import sync_job_advance
from ingest.steps.process import GROUP_DOCUMENTS, LEAD_GROUP_DOCUMENTS, sync_process_batches
from sources.models import Document, DocumentRevision, SyncItem, SyncJob

DOCUMENTS = 2 * GROUP_DOCUMENTS + 10  # four groups in one batch: a short lead, two whole, the rest


def corpus(n: int) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {
        f"doc{i:03}.md": f"# Topic {i}\n\nFact number {i}: the {i * 7} widgets ship on day {i % 5}." for i in range(n)
    }
    # The same text in the first and the last group: embedded once.
    files[f"doc{n - 1:03}.md"] = files["doc001.md"]
    files[f"doc{GROUP_DOCUMENTS + 3:03}.pdf"] = b"%PDF-1.7\n1 0 obj << broken"  # fails in the middle group
    return files


def test_every_chunk_of_a_multi_group_batch_points_at_its_own_vector(folder_source, sync_now):
    job = sync_now(folder_source("wiki", corpus(DOCUMENTS)))

    assert (job.status, job.counts["added"], job.counts["failed"]) == (SyncJob.Status.PARTIAL, DOCUMENTS, 1)
    assert job.errors[0]["document"] == f"doc{GROUP_DOCUMENTS + 3:03}.pdf"
    chunks = list(Chunk.objects.select_related("embedding", "revision"))
    assert len(chunks) == DOCUMENTS and {c.revision.document_id for c in chunks} == set(
        Document.objects.values_list("pk", flat=True)
    )
    # No vector went to another group's chunk: each stored vector is its own text's, computed afresh.
    texts = [f"{c.context}\n\n{c.text}" if c.context else c.text for c in chunks]
    fresh = np.array(embedding.embed_texts(texts))
    stored = np.array([np.asarray(c.embedding.vector) for c in chunks])
    assert (fresh * stored).sum(axis=1).min() > 0.9999
    # The duplicated text (first and last group) has one vector, counted once.
    assert Embedding.objects.count() == DOCUMENTS - 1 == job.embeddings_computed
    assert not SyncItem.objects.exists()


def test_a_batch_costs_the_same_queries_whatever_number_of_documents_a_group_holds(folder_source):
    def process_queries(n: int) -> int:
        source = folder_source(f"wiki{n}", {f"doc{i:03}.md": f"# T{n}-{i}\n\nText {n} {i}." for i in range(n)})
        job = sync_job_claim(job_id=SyncJob.objects.create(source=source).pk)
        sync_job_advance(job_id=job.pk, attempt=job.attempt)  # fetch
        with CaptureQueriesContext(connection) as queries:
            sync_job_advance(job_id=job.pk, attempt=job.attempt)  # the one batch
        assert DocumentRevision.objects.filter(document__source=source).count() == n
        return len(queries)

    process_queries(1)  # the pipeline row and the model are made once, by the first sync
    one_group = process_queries(3)
    assert one_group == process_queries(LEAD_GROUP_DOCUMENTS)
    # A step's first group is short, so the model starts early; the next one is whole.
    two_groups = process_queries(LEAD_GROUP_DOCUMENTS + 1)
    assert two_groups > one_group and two_groups == process_queries(LEAD_GROUP_DOCUMENTS + GROUP_DOCUMENTS)


def test_a_batch_whose_worker_died_before_marking_it_done_is_redone_without_duplicates(folder_source):
    source = folder_source("wiki", corpus(DOCUMENTS))
    job = sync_job_claim(job_id=SyncJob.objects.create(source=source).pk)
    sync_job_advance(job_id=job.pk, attempt=job.attempt)  # fetch
    staged = list(SyncItem.objects.filter(job=job, state=SyncItem.State.PENDING))
    sync_job_advance(job_id=job.pk, attempt=job.attempt)  # the batch: revisions, chunks, vectors, items done
    chunks, embeddings = Chunk.objects.count(), Embedding.objects.count()
    # A worker killed before the batch's last transaction leaves every write but the items' own.
    SyncItem.objects.bulk_update(staged, ["state", "content", "document", "revision", "reason"])
    SyncJob.objects.filter(pk=job.pk).update(progress_done=0)

    while sync_job_advance(job_id=job.pk, attempt=job.attempt):
        pass
    job.refresh_from_db()
    assert (job.status, job.counts["added"], job.progress_done) == (SyncJob.Status.PARTIAL, DOCUMENTS, DOCUMENTS + 1)
    assert (Chunk.objects.count(), Embedding.objects.count()) == (chunks, embeddings)
    assert DocumentRevision.objects.count() == DOCUMENTS
    assert job.index_version.counts["chunks"] == DOCUMENTS


def test_chunks_are_stored_with_their_keyword_postings_before_any_version_exists(folder_source):
    source = folder_source("wiki", corpus(DOCUMENTS))
    job = sync_job_claim(job_id=SyncJob.objects.create(source=source).pk)
    sync_job_advance(job_id=job.pk, attempt=job.attempt)  # fetch
    sync_job_advance(job_id=job.pk, attempt=job.attempt)  # the batch, whose groups overlap with the model
    assert not IndexVersion.objects.exists()
    lexemes = {c.pk: len(c.search_vector.split()) for c in Chunk.objects.all()}
    posted = Counter(KeywordPosting.objects.values_list("chunk_id", flat=True))
    assert len(lexemes) == DOCUMENTS and posted == lexemes


@pytest.mark.parametrize("cancelled", [False, True])
def test_a_step_takes_no_further_batch_once_its_job_is_cancelled(folder_source, settings, cancelled):
    settings.SYNC_BATCH_DOCUMENTS = 2
    source = folder_source("wiki", {f"doc{i}.md": f"# Topic {i}\n\nFact {i} about area {i * 3}." for i in range(6)})
    job = sync_job_claim(job_id=SyncJob.objects.create(source=source).pk)
    sync_job_advance(job_id=job.pk, attempt=job.attempt)  # fetch
    if cancelled:  # requested while the step runs: its runner checked before it began
        SyncJob.objects.filter(pk=job.pk).update(cancel_requested_at=timezone.now())
    sync_process_batches(SyncJob.objects.get(pk=job.pk))
    done = SyncItem.objects.filter(job=job, state=SyncItem.State.DONE).count()
    assert (done, SyncJob.objects.get(pk=job.pk).progress_done) == ((2, 2) if cancelled else (6, 6))
