"""Reads on sources and documents. Those taking ``user`` apply the ACL visibility filter."""

from django.db.models import Exists, OuterRef, QuerySet

from acl.selectors import visible_source_ids
from index_versions.models import IndexVersion, VersionDocument
from sources.models import Document, Source, SyncJob


def source_list(*, user) -> QuerySet[Source]:
    """Staff manage every source; anyone else sees the sources they may read."""
    if user.is_staff:
        return Source.objects.all()
    return Source.objects.filter(pk__in=visible_source_ids(user=user))


def document_list(*, user, source_id: int | None = None) -> QuerySet[Document]:
    """Documents in the active index version that ``user`` may read (staff included: no bypass)."""
    in_active_version = VersionDocument.objects.filter(
        document_id=OuterRef("pk"), version__state=IndexVersion.State.ACTIVE
    )
    documents = Document.objects.filter(Exists(in_active_version), source_id__in=visible_source_ids(user=user))
    if source_id is not None:
        documents = documents.filter(source_id=source_id)
    return documents.select_related("source")


def sync_job_list(*, source_id: int | None = None) -> QuerySet[SyncJob]:
    """Internal/staff: sync jobs carry document paths and errors, so no ACL applies here."""
    jobs = SyncJob.objects.select_related("source")
    if source_id is not None:
        jobs = jobs.filter(source_id=source_id)
    return jobs
