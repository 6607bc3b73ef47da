"""Sync semantics: incremental, deletions, every bad input, progress, cancellation, resumption.

Mirrors the sync part of ``sources/services.py``.
"""

import threading
from pathlib import Path

import pytest
from django.db import connection

from index_versions.models import Embedding, IndexVersion
from index_versions.selectors import version_entries
from ingest.lifecycle import sync_job_cancel, sync_job_claim, sync_job_request
from ingest.runner import sync_job_advance, sync_job_run
from sources.models import Document, DocumentRevision, SyncItem, SyncJob
from tests.sources.files import docx_bytes, encrypted_docx_bytes, pdf_bytes, zip_bomb_docx_bytes


def corpus(n: int) -> dict[str, str]:
    return {f"doc{i:03}.md": f"# Topic {i}\n\nFact number {i} about subject {i * 7}." for i in range(n)}


def test_unchanged_source_is_neither_parsed_nor_embedded_and_makes_no_version(folder_source, sync_now, settings):
    source = folder_source("wiki", {**corpus(5), "guide.pdf": pdf_bytes(["Deploy in waves."])})
    first = sync_now(source)
    embeddings, versions = Embedding.objects.count(), IndexVersion.objects.count()
    # Any parse now would time out and fail its document: a clean run proves nothing was parsed.
    settings.SOURCE_PARSE_TIMEOUT_SECONDS = 0.000001
    again = sync_now(source)
    assert (again.status, again.message, again.index_version) == (SyncJob.Status.SUCCEEDED, "no changes", None)
    assert again.counts == {"added": 0, "updated": 0, "unchanged": 6, "deleted": 0, "failed": 0, "purged": 0}
    assert (Embedding.objects.count(), IndexVersion.objects.count()) == (embeddings, versions)
    assert first.index_version.state == "active"


def test_only_changed_documents_are_parsed_and_embedded(folder_source, sync_now):
    source = folder_source("wiki", corpus(6))
    sync_now(source)
    embeddings = Embedding.objects.count()
    Path(source.config["path"], "doc002.md").write_text("# Topic 2\n\nA brand new fact.")
    job = sync_now(source)
    assert (job.counts["updated"], job.counts["unchanged"]) == (1, 5)
    assert Embedding.objects.count() == embeddings + 1
    assert job.index_version.counts["embeddings_computed"] == 1


def test_deleted_document_leaves_the_new_version_only(folder_source, sync_now):
    source = folder_source("wiki", corpus(3))
    old = sync_now(source).index_version
    Path(source.config["path"], "doc001.md").unlink()
    new = sync_now(source)
    assert new.counts["deleted"] == 1
    gone = Document.objects.get(external_id="doc001.md")
    assert not version_entries(new.index_version).filter(document=gone).exists()
    assert version_entries(old).filter(document=gone).exists()  # older versions keep it


def test_every_kind_of_bad_document_is_reported_and_the_rest_synced(folder_source, sync_now, settings):
    settings.SOURCE_MAX_DOCUMENT_BYTES = 400_000
    source = folder_source(
        "mixed",
        {
            "good.md": "# Good\n\nReadable.",
            "good.docx": docx_bytes([("h1", "Word"), ("p", "From Word.")]),
            "good.html": "<html><body><main><h1>Web</h1><p>From HTML.</p></main></body></html>",
            "corrupt.pdf": b"%PDF-1.7\n1 0 obj << broken",
            "empty.md": "",
            "binary.txt": b"\x00\x01\x02\x03binary",
            "undecodable.txt": bytes(range(0x80, 0x100)) * 4,
            "huge.txt": "x" * 400_001,
            "encrypted.docx": encrypted_docx_bytes(),
            "bomb.docx": zip_bomb_docx_bytes(),
        },
    )
    job = sync_now(source)
    assert job.status == SyncJob.Status.PARTIAL
    reasons = {error["document"]: error["reason"] for error in job.errors}
    assert reasons["corrupt.pdf"].startswith("corrupt PDF")
    assert reasons["empty.md"] == "empty file"
    assert "binary" in reasons["binary.txt"]
    assert "undecodable" in reasons["undecodable.txt"]
    assert reasons["huge.txt"] == "over the size limit (400001 > 400000 bytes)"
    assert "encrypted DOCX" in reasons["encrypted.docx"]
    assert "zip bomb" in reasons["bomb.docx"]
    assert len(reasons) == 7 and job.counts["added"] == 3
    assert sorted(Document.objects.values_list("external_id", flat=True)) == ["good.docx", "good.html", "good.md"]


def test_parser_timeout_fails_the_document_and_keeps_its_previous_content(folder_source, sync_now, settings):
    source = folder_source("docs", {"report.pdf": pdf_bytes(["First edition."]), "a.md": "# A\n\nText."})
    sync_now(source)
    Path(source.config["path"], "report.pdf").write_bytes(pdf_bytes([f"Page {n} " * 300 for n in range(150)]))
    settings.SOURCE_PARSE_TIMEOUT_SECONDS = 0.05
    job = sync_now(source)
    assert job.status == SyncJob.Status.PARTIAL
    assert job.errors == [{"document": "report.pdf", "reason": "parser timeout: gave up after 0.05 s"}]
    active = IndexVersion.objects.get(state="active")
    kept = version_entries(active).get(document__external_id="report.pdf").revision
    assert "First edition." in kept.content


@pytest.mark.parametrize(
    ("step_seconds", "steps"),
    [
        # One batch per step: progress after each.
        (0, [("process", 0, 5), ("process", 2, 5), ("process", 4, 5), ("process", 5, 5), ("finish", 5, 5)]),
        # Time for every batch in one step: the fetch, that step, then the step that finds none left.
        (600, [("process", 0, 5), ("process", 5, 5), ("finish", 5, 5)]),
    ],
)
def test_progress_grows_batch_by_batch_whether_a_step_takes_one_batch_or_all(
    folder_source, settings, step_seconds, steps
):
    settings.SYNC_BATCH_DOCUMENTS = 2
    settings.SYNC_STEP_SECONDS = step_seconds
    source = folder_source("wiki", corpus(5))
    job = sync_job_claim(job_id=SyncJob.objects.create(source=source).pk)
    seen = []
    while sync_job_advance(job_id=job.pk, attempt=job.attempt):
        job.refresh_from_db()
        seen.append((job.phase, job.progress_done, job.progress_total))
    assert seen == steps
    job.refresh_from_db()
    assert (job.status, job.counts["added"], job.progress_done) == (SyncJob.Status.SUCCEEDED, 5, 5)
    assert not SyncItem.objects.exists()  # staged bytes are dropped when the job ends


def test_cancelled_sync_ends_cleanly_without_a_version(folder_source, sync_now, settings, staff):
    settings.SYNC_BATCH_DOCUMENTS = 2
    settings.SYNC_STEP_SECONDS = 0  # one batch per step
    source = folder_source("wiki", corpus(5))
    job = sync_job_claim(job_id=SyncJob.objects.create(source=source).pk)
    sync_job_advance(job_id=job.pk, attempt=job.attempt)  # fetch
    sync_job_advance(job_id=job.pk, attempt=job.attempt)  # first batch
    sync_job_cancel(job=job, actor=staff)
    job.refresh_from_db()
    assert (job.status, job.message, job.index_version) == (SyncJob.Status.CANCELLED, "cancelled by staff", None)
    assert not IndexVersion.objects.exists()
    assert not sync_job_advance(job_id=job.pk, attempt=job.attempt)  # a step still queued does nothing
    # The next sync reuses what the cancelled one parsed and embedded.
    embeddings = Embedding.objects.count()
    assert sync_now(source).counts["added"] == 5
    assert Embedding.objects.count() == embeddings + 3


def test_cancelling_a_queued_job_means_it_never_runs(folder_source, staff):
    job, _ = sync_job_request(source=folder_source("wiki", corpus(1)))
    sync_job_cancel(job=job, actor=staff)
    assert sync_job_run(job_id=job.pk) is None
    assert SyncJob.objects.get(pk=job.pk).status == SyncJob.Status.CANCELLED


def test_a_job_whose_worker_died_is_resumed_by_the_next_request(
    folder_source, settings, django_capture_on_commit_callbacks
):
    settings.SYNC_BATCH_DOCUMENTS = 2
    source = folder_source("wiki", corpus(5))
    job = sync_job_claim(job_id=SyncJob.objects.create(source=source).pk)
    sync_job_advance(job_id=job.pk, attempt=job.attempt)
    sync_job_advance(job_id=job.pk, attempt=job.attempt)
    # The worker died here: nobody holds the job's lock. A fresh heartbeat protects it for a while...
    with django_capture_on_commit_callbacks() as enqueued:
        assert sync_job_request(source=source) == (SyncJob.objects.get(pk=job.pk), False)
    assert enqueued == []
    # ...after which the next request resumes it, under a new attempt.
    settings.SYNC_STALE_AFTER_SECONDS = 0
    with django_capture_on_commit_callbacks() as enqueued:
        same, created = sync_job_request(source=source)
    assert (same.pk, created, len(enqueued)) == (job.pk, False, 1)
    resumed = SyncJob.objects.get(pk=job.pk)
    assert resumed.attempt == job.attempt + 1
    assert not sync_job_advance(job_id=job.pk, attempt=job.attempt)  # the dead worker's message, if it comes back
    while sync_job_advance(job_id=job.pk, attempt=resumed.attempt):
        pass
    resumed.refresh_from_db()
    assert (resumed.status, resumed.counts["added"]) == (SyncJob.Status.SUCCEEDED, 5)


@pytest.mark.django_db(transaction=True)
def test_a_running_step_is_never_taken_for_a_dead_one(write_folder, settings):
    from sources.services.crud import source_create

    settings.SYNC_STALE_AFTER_SECONDS = 0
    source = source_create(name="wiki", kind="folder", config={"path": str(write_folder("wiki", corpus(1)))})
    job = sync_job_claim(job_id=SyncJob.objects.create(source=source).pk)
    with connection.cursor() as cursor:  # a live worker holds the job's lock while it works
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [0x51C, job.pk])
    try:
        results = []

        def request():  # from another connection, as the web process would
            try:
                results.append(sync_job_request(source=source))
            finally:
                connection.close()

        thread = threading.Thread(target=request)
        thread.start()
        thread.join()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [0x51C, job.pk])
    assert results[0][0].pk == job.pk
    assert SyncJob.objects.get(pk=job.pk).attempt == job.attempt  # not resumed


@pytest.mark.django_db(transaction=True)
def test_concurrent_sync_requests_get_one_job(write_folder):
    from sources.services.crud import source_create

    source = source_create(name="wiki", kind="folder", config={"path": str(write_folder("wiki", corpus(1)))})
    barrier, results = threading.Barrier(4), []

    def request():
        barrier.wait()
        try:
            results.append(sync_job_request(source=source))
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({job.pk for job, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, False, False, True]
    assert SyncJob.objects.count() == 1


def test_a_disabled_source_is_not_synced_even_if_a_job_was_queued(folder_source):
    from sources.services.crud import source_update

    source = folder_source("wiki", corpus(1))
    job, _ = sync_job_request(source=source)
    source_update(source=source, data={"enabled": False})
    assert sync_job_run(job_id=job.pk) is None
    job.refresh_from_db()
    assert (job.status, job.message) == (SyncJob.Status.CANCELLED, "the source is disabled")
    assert not DocumentRevision.objects.exists()
