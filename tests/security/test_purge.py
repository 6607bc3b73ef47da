"""A compliance purge is final whatever is in flight, repeatable while residue remains, and leaves nothing behind."""

import json
from pathlib import Path

from acl.models import AuditEvent
from index_versions.models import Chunk, MembershipSpan
from index_versions.selectors import index_version_active, version_entries
from index_versions.services.activation import index_version_activate
from index_versions.services.building import index_version_revert_source
from index_versions.services.purge import document_purge
from index_versions.services.retention import storage_collect_garbage
from ingest.lifecycle import sync_job_claim
from ingest.runner import sync_job_advance
from retrieval.search import search
from retrieval.services import answer_run
from sources.models import Document, DocumentRevision, SyncItem, SyncJob, UploadedFile
from sources.services.uploads import uploaded_file_put

SECRET = "# Salaries\n\nThe CEO earns 900,000 euros a year."
EDITED = "# Salaries\n\nThe CEO now earns 950,000 euros a year."
LEAVE = "# Leave\n\nParental leave is twenty weeks."


def _texts(user) -> str:
    return " ".join(hit.text for hit in search(user=user, query="CEO salary euros", k=10).results)


def test_a_purge_during_a_running_sync_is_not_undone_by_its_later_steps(folder_source, sync_now, grant, alice, staff):
    source = folder_source("hr", {"salary.md": SECRET, "leave.md": LEAVE})
    grant(source, user=alice)
    before = sync_now(source).index_version
    Path(source.config["path"], "salary.md").write_text(EDITED)
    job = sync_job_claim(job_id=SyncJob.objects.create(source=source).pk)
    assert sync_job_advance(job_id=job.pk, attempt=job.attempt)  # the fetch staged the edited salary.md
    assert SyncItem.objects.filter(job=job, state=SyncItem.State.PENDING, external_id="salary.md").exists()

    salary = Document.objects.get(source=source, external_id="salary.md")
    document_purge(document=salary, actor=staff)
    while sync_job_advance(job_id=job.pk, attempt=job.attempt):
        pass

    job.refresh_from_db()
    assert job.status in (SyncJob.Status.SUCCEEDED, SyncJob.Status.PARTIAL) and job.counts["purged"] == 1
    salary.refresh_from_db()
    assert salary.purged_at is not None and salary.title == "(purged)" and salary.content_hash == ""
    assert not DocumentRevision.objects.filter(document=salary).exists()
    assert not MembershipSpan.objects.filter(document=salary).exists()
    assert "950,000" not in _texts(alice) and "900,000" not in _texts(alice)
    # Neither a rollback nor a revert to the version before the purge brings the text back.
    index_version_activate(version=before, reason="rollback")
    assert "900,000" not in _texts(alice)
    index_version_revert_source(source=source, version=before)
    assert "900,000" not in _texts(alice)
    assert not version_entries(index_version_active()).filter(document=salary).exists()


def test_a_purge_with_residue_left_runs_again_instead_of_returning_early(folder_source, sync_now, grant, alice, staff):
    source = folder_source("hr", {"salary.md": SECRET, "leave.md": LEAVE})
    grant(source, user=alice)
    sync_now(source)
    salary = Document.objects.get(source=source, external_id="salary.md")
    document_purge(document=salary, actor=staff)
    # Residue written by something racing the first purge: a revision of the tombstone.
    DocumentRevision.objects.create(document=salary, content_hash="late", title="Salaries", uri="x", content=SECRET)

    document_purge(document=salary, actor=staff)

    assert not DocumentRevision.objects.filter(document=salary).exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.DOCUMENT_PURGE).count() == 2
    # A purge that finds nothing left changes nothing and is not audited again.
    document_purge(document=salary, actor=staff)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.DOCUMENT_PURGE).count() == 2
    # Garbage collection never keeps a revision of a purged document.
    DocumentRevision.objects.create(document=salary, content_hash="", title="", uri="", content=SECRET)
    storage_collect_garbage()
    assert not DocumentRevision.objects.filter(document=salary).exists()


def test_a_purge_removes_upload_bytes_the_external_id_the_date_and_quoted_answers(
    db, sync_now, grant, alice, staff, settings
):
    from sources.services.crud import source_create

    settings.AUDIT_ANSWER_TEXT = "keep"
    source = source_create(name="uploads", kind="upload", config={})
    grant(source, user=alice)
    uploaded_file_put(source=source, name="ceo-salary-2026.md", content=SECRET.encode(), uploaded_by=staff)
    sync_now(source)
    answer = answer_run(user=alice, query="How much does the CEO earn?", k=5)
    assert "900,000" in answer.answer
    salary = Document.objects.get(source=source)
    assert salary.modified_at is not None

    document_purge(document=salary, actor=staff)

    salary.refresh_from_db()
    assert not UploadedFile.objects.filter(source=source).exists()
    assert "ceo-salary-2026" not in salary.external_id and salary.modified_at is None
    event = AuditEvent.objects.get(pk=answer.id)
    assert "answer" not in event.details and "900,000" not in json.dumps(event.details)
    purge_event = AuditEvent.objects.get(action=AuditEvent.Action.DOCUMENT_PURGE)
    assert "ceo-salary-2026" not in json.dumps(purge_event.details)
    assert not Chunk.objects.filter(text__contains="900,000").exists()
    # The tombstone still keeps the next sync from taking the file in again, were it uploaded once more.
    uploaded_file_put(source=source, name="ceo-salary-2026.md", content=SECRET.encode(), uploaded_by=staff)
    job = sync_now(source)
    assert job.counts["purged"] == 1 and not DocumentRevision.objects.filter(document__source=source).exists()
