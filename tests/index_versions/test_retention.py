"""Garbage collection looks at what it may delete: spans no kept version holds, and candidates; nothing else."""

from pathlib import Path

from index_versions.models import GarbageCandidate, MembershipSpan
from index_versions.services.retention import index_versions_retain
from ingest.lifecycle import sync_job_cancel, sync_job_claim
from ingest.runner import sync_job_advance
from sources.models import Document, DocumentRevision, SyncJob


def _cancelled_after_storing(source, text: str) -> DocumentRevision:
    """A sync that parsed and stored the edited page, then was cancelled: no version took its revision."""
    Path(source.config["path"], "page.md").write_text(text)
    job = sync_job_claim(job_id=SyncJob.objects.create(source=source).pk)
    sync_job_advance(job_id=job.pk, attempt=job.attempt)  # fetch
    sync_job_advance(job_id=job.pk, attempt=job.attempt)  # the batch: the revision is stored
    sync_job_cancel(job=job)
    assert SyncJob.objects.get(pk=job.pk).status == SyncJob.Status.CANCELLED
    return DocumentRevision.objects.filter(document__source=source).latest("pk")


def test_what_a_cancelled_sync_stored_is_collected_once_nothing_can_use_it(folder_source, sync_now):
    source = folder_source("wiki", {"page.md": "# Page\n\nFirst edition."})
    sync_now(source)
    second = _cancelled_after_storing(source, "# Page\n\nSecond edition, never published.")
    assert GarbageCandidate.objects.filter(revision=second).exists()
    assert not MembershipSpan.objects.filter(revision=second).exists()

    # Still the document's newest content: kept (the next sync need not parse it again), still a candidate.
    index_versions_retain(keep=10)
    assert DocumentRevision.objects.filter(pk=second.pk).exists()
    assert GarbageCandidate.objects.filter(revision=second).exists()

    third = _cancelled_after_storing(source, "# Page\n\nThird edition, never published either.")
    index_versions_retain(keep=10)
    assert not DocumentRevision.objects.filter(pk=second.pk).exists()  # superseded and held by no version
    assert DocumentRevision.objects.filter(pk=third.pk).exists()
    # A sync that publishes the newest content takes the candidate out of the collector's list.
    published = sync_now(source)
    assert published.index_version is not None
    index_versions_retain(keep=10)
    assert DocumentRevision.objects.filter(pk=third.pk).exists() and not GarbageCandidate.objects.exists()
    assert Document.objects.get(source=source).content_hash == third.content_hash


def test_a_finished_sync_leaves_no_candidates(folder_source, sync_now):
    source = folder_source("wiki", {"page.md": "# Page\n\nFirst edition.", "other.md": "# Other\n\nText."})
    sync_now(source)
    Path(source.config["path"], "page.md").write_text("# Page\n\nSecond edition.")
    sync_now(source)
    assert not GarbageCandidate.objects.exists()
