"""Reads on sources and documents. Those taking ``user`` apply the ACL visibility filter."""

from django.db.models import Exists, OuterRef, QuerySet, Subquery

from acl.selectors import VisibleTo, visible_source_ids
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
    # Source grant and the document's own access list, both in this query's SQL.
    documents = Document.objects.filter(Exists(in_active_version), VisibleTo(user, source="source_id", document="id"))
    if source_id is not None:
        documents = documents.filter(source_id=source_id)
    # The metadata of the revision the active version holds (a subquery: no query per document).
    documents = documents.annotate(active_metadata=Subquery(in_active_version.values("revision__metadata")[:1]))
    return documents.select_related("source")


def sync_job_list(*, source_id: int | None = None) -> QuerySet[SyncJob]:
    """Internal/staff: sync jobs carry document paths and errors, so no ACL applies here."""
    jobs = SyncJob.objects.select_related("source")
    if source_id is not None:
        jobs = jobs.filter(source_id=source_id)
    return jobs


def sources_due_for_sync(*, now) -> QuerySet[Source]:
    """Internal, no ACL (the scheduler): enabled, scheduled, not paused, interval elapsed, none in flight."""
    from datetime import timedelta

    from django.db.models import DateTimeField, ExpressionWrapper, F, Q, Value

    in_flight = SyncJob.objects.filter(source_id=OuterRef("pk"), status__in=SyncJob.IN_FLIGHT)
    next_due = ExpressionWrapper(
        F("last_synced_at") + F("sync_interval_minutes") * Value(timedelta(minutes=1)), output_field=DateTimeField()
    )
    return (
        Source.objects.filter(enabled=True, sync_interval_minutes__isnull=False, sync_paused_at__isnull=True)
        .exclude(Exists(in_flight))
        .annotate(next_due=next_due)
        .filter(Q(last_synced_at__isnull=True) | Q(next_due__lte=now))
    )


def uploaded_file_list(*, source: Source) -> QuerySet:
    """Internal/staff: the files of an upload source, without their bytes."""
    from sources.models import UploadedFile

    return UploadedFile.objects.filter(source=source).defer("content")
