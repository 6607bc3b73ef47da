"""Writes on sources: create/update/delete, sync requests and the sync itself."""

import hashlib
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status

from ragplatform.errors import ApplicationError
from sources.connectors import ConfigError, FetchedDocument, get_connector
from sources.models import Document, DocumentRevision, Source, SyncJob

logger = logging.getLogger(__name__)

_EDITABLE_FIELDS = {"name", "kind", "config", "enabled"}


def _validated_config(kind: str, config) -> dict:
    try:
        return get_connector(kind).validate_config(config)
    except ConfigError as exc:
        field = "kind" if set(exc.details) == {"kind"} else "config"
        raise ApplicationError(f"Invalid {field}: {exc}", code="invalid_config", details={field: exc.details}) from None


@transaction.atomic
def source_create(*, name: str, kind: str, config: dict, enabled: bool = True) -> Source:
    config = _validated_config(kind, config)
    try:
        with transaction.atomic():  # the unique name index decides, also between concurrent requests
            return Source.objects.create(name=name, kind=kind, config=config, enabled=enabled)
    except IntegrityError:
        raise _duplicate_name(name) from None


def _duplicate_name(name: str) -> ApplicationError:
    return ApplicationError(
        f"A source named {name!r} already exists.", code="duplicate", details={"name": ["already exists"]}
    )


@transaction.atomic
def source_update(*, source: Source, data: dict) -> Source:
    unknown = set(data) - _EDITABLE_FIELDS
    if unknown:
        raise ApplicationError("Unknown fields.", details={name: ["not editable"] for name in sorted(unknown)})
    source = Source.objects.select_for_update().get(pk=source.pk)
    kind = data.get("kind", source.kind)
    if "config" in data or "kind" in data:
        source.config = _validated_config(kind, data.get("config", source.config))
        source.kind = kind
    if "name" in data:
        source.name = data["name"]
    if "enabled" in data:
        source.enabled = data["enabled"]
    try:
        with transaction.atomic():
            source.save()
    except IntegrityError:
        raise _duplicate_name(source.name) from None
    return source


@transaction.atomic
def source_delete(*, source: Source) -> None:
    """Delete the source with its documents, grants and jobs, from every index version."""
    source.delete()


def sync_job_request(*, source: Source, requested_by=None) -> tuple[SyncJob, bool]:
    """Queue a sync of ``source``; if one is already queued or running, return that one.

    Returns ``(job, created)``. The task is enqueued only once the job row is
    committed, so a worker never looks for a job that does not exist yet.
    """
    from sources.tasks import sync_source_task

    if not source.enabled:
        raise ApplicationError(
            "The source is disabled; enable it before syncing.",
            code="source_disabled",
            status_code=status.HTTP_409_CONFLICT,
        )
    try:
        with transaction.atomic():
            job = SyncJob.objects.create(source=source, requested_by=requested_by)
            transaction.on_commit(lambda: sync_source_task.delay(job.pk))
            return job, True
    except IntegrityError:
        # The partial unique index says a job is in flight for this source.
        return SyncJob.objects.get(source=source, status__in=SyncJob.IN_FLIGHT), False


def _content_hash(document: FetchedDocument) -> str:
    return hashlib.sha256(document.text.encode("utf-8")).hexdigest()


def _sync_job_claim(job_id: int) -> SyncJob | None:
    """Move a queued job to running; ``None`` if another delivery already took it."""
    with transaction.atomic():
        job = SyncJob.objects.select_for_update().select_related("source").filter(pk=job_id).first()
        if job is None or job.status != SyncJob.Status.QUEUED:
            return None
        job.status = SyncJob.Status.RUNNING
        job.started_at = timezone.now()
        job.save(update_fields=["status", "started_at"])
        return job


def _sync_job_finish(job: SyncJob, *, status: str, message: str = "") -> None:
    job.status = status
    job.message = message[:500]
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "message", "finished_at", "counts", "errors", "index_version"])


def sync_job_run(*, job_id: int) -> SyncJob | None:
    """Run a queued sync job: fetch, store new revisions, embed, build and activate a version.

    Idempotent: a job that is not queued any more (a redelivered task) is left alone.
    Per-document failures are recorded on the job and keep the document's previous
    content; the job then ends ``partial``.
    """
    from index_versions import services as index_services

    job = _sync_job_claim(job_id)
    if job is None:
        return None
    source = job.source
    try:
        connector = get_connector(source.kind)
        fetched: list[FetchedDocument] = []
        errors: list[dict] = []
        for item in connector.fetch(source.config):
            if isinstance(item, FetchedDocument):
                fetched.append(item)
            else:
                errors.append({"document": item.external_id, "reason": item.reason})

        pipeline = index_services.pipeline_current()
        active = index_services.index_version_active()
        in_active: dict[int, int] = {}
        if active is not None:
            in_active = dict(active.entries.filter(source=source).values_list("document_id", "revision_id"))

        counts = {"added": 0, "updated": 0, "unchanged": 0, "deleted": 0, "failed": len(errors)}
        revisions: dict[int, int] = {}
        with transaction.atomic():
            existing = {d.external_id: d for d in Document.objects.filter(source=source)}
            for item in fetched:
                content_hash = _content_hash(item)
                document = existing.get(item.external_id)
                if document is None:
                    document = Document.objects.create(
                        source=source,
                        external_id=item.external_id,
                        title=item.title,
                        uri=item.uri,
                        content_hash=content_hash,
                        modified_at=item.modified_at,
                    )
                elif (document.content_hash, document.title, document.uri) != (content_hash, item.title, item.uri):
                    document.content_hash, document.title, document.uri = content_hash, item.title, item.uri
                    document.modified_at = item.modified_at
                    document.save(update_fields=["content_hash", "title", "uri", "modified_at", "updated_at"])
                revision, _ = DocumentRevision.objects.get_or_create(
                    document=document,
                    content_hash=content_hash,
                    defaults={
                        "title": item.title,
                        "uri": item.uri,
                        "content": item.text,
                        "modified_at": item.modified_at,
                    },
                )
                revisions[document.pk] = revision.pk
                if document.pk not in in_active:
                    counts["added"] += 1
                elif in_active[document.pk] != revision.pk:
                    counts["updated"] += 1
                else:
                    counts["unchanged"] += 1
            # A document that failed keeps its previous content in the new version.
            failed_ids = {e["document"] for e in errors}
            for document in existing.values():
                if document.external_id in failed_ids and document.pk in in_active:
                    revisions[document.pk] = in_active[document.pk]
            counts["deleted"] = len(set(in_active) - set(revisions))

        job.counts = counts
        job.errors = errors
        final_status = SyncJob.Status.PARTIAL if errors else SyncJob.Status.SUCCEEDED
        nothing_changed = (
            active is not None
            and active.pipeline_id == pipeline.pk
            and counts["added"] == counts["updated"] == counts["deleted"] == 0
        )
        if nothing_changed:
            message = "no changes"
        else:
            # The expensive part runs outside the version lock; the build then finds it done.
            work = index_services.revision_chunks_ensure(revision_ids=revisions.values(), pipeline=pipeline)
            job.index_version = index_services.index_version_build_for_source(
                source_id=source.pk,
                revisions=revisions,
                pipeline=pipeline,
                actor=job.requested_by,
                note=f"sync #{job.pk} of {source.name}",
                embeddings_computed=work["embeddings_computed"],
            )
            message = ""
        Source.objects.filter(pk=source.pk).update(last_synced_at=timezone.now())
        _sync_job_finish(job, status=final_status, message=message)
    except Exception as exc:
        logger.exception("sync job %s failed", job.pk)
        _sync_job_finish(job, status=SyncJob.Status.FAILED, message=f"{type(exc).__name__}: {exc}")
    return job
