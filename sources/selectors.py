"""Reads on sources, sync jobs and uploads. Those taking ``user`` apply the ACL visibility filter.

Documents as a version holds them are read through :mod:`index_versions.selectors`.
"""

from datetime import timedelta

from django.db.models import DateTimeField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet, Value

from acl.selectors import staff_may, visible_source_ids
from sources.models import Source, SyncJob, UploadedFile


def source_list(*, user) -> QuerySet[Source]:
    """Staff with ``sources.view_source`` manage every source; anyone else sees the sources they may read."""
    if staff_may(user, "sources.view_source"):
        return Source.objects.all()
    return Source.objects.filter(pk__in=visible_source_ids(user=user))


def sync_job_list(*, source_id: int | None = None) -> QuerySet[SyncJob]:
    """Internal/staff: sync jobs carry document paths and errors, so no ACL applies here."""
    jobs = SyncJob.objects.select_related("source")
    if source_id is not None:
        jobs = jobs.filter(source_id=source_id)
    return jobs


def sources_due_for_sync(*, now) -> QuerySet[Source]:
    """Internal, no ACL (the scheduler): enabled, scheduled, not paused, interval elapsed, none in flight."""
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
    return UploadedFile.objects.filter(source=source).defer("content")
