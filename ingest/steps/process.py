"""The process step: a batch of pending documents parsed (sandboxed), stored as revisions, chunked and embedded."""

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from acl.services import document_access_list_set
from index_versions.services.pipelines import pipeline_for_sync
from index_versions.services.storage import revision_chunks_ensure
from sources.models import Document, DocumentRevision, SyncItem, SyncJob
from sources.parsers import ParseError, sandbox


def _batch_size() -> int:
    return getattr(settings, "SYNC_BATCH_DOCUMENTS", 100)


def _parse_timeout() -> float:
    return getattr(settings, "SOURCE_PARSE_TIMEOUT_SECONDS", 60)


def sync_process_batch(job: SyncJob) -> None:
    """Parse, store and embed the next batch of pending documents; move to ``finish`` when none is left."""
    items = list(SyncItem.objects.filter(job=job, state=SyncItem.State.PENDING).order_by("pk")[: _batch_size()])
    if not items:
        SyncJob.objects.filter(pk=job.pk).update(phase=SyncJob.Phase.FINISH, heartbeat_at=timezone.now())
        return
    pipeline = pipeline_for_sync()
    timeout = _parse_timeout()
    revision_ids = []
    for item in items:
        try:
            parsed = sandbox.parse(
                bytes(item.content), media_type=item.media_type, name=item.external_id, timeout=timeout
            )
        except ParseError as exc:
            # The document keeps its previous content in the new version (see _sync_finish).
            item.state, item.reason, item.content = SyncItem.State.FAILED, str(exc)[:500], None
            continue
        title = (parsed.title or item.title or item.external_id)[:500]
        with transaction.atomic():
            document, created = Document.objects.get_or_create(
                source=job.source,
                external_id=item.external_id,
                defaults={
                    "title": title,
                    "uri": item.uri,
                    "content_hash": item.content_hash,
                    "modified_at": item.modified_at,
                },
            )
            if not created:
                document.title, document.uri, document.content_hash = title, item.uri, item.content_hash
                document.modified_at = item.modified_at
                document.save(update_fields=["title", "uri", "content_hash", "modified_at", "updated_at"])
            revision, _ = DocumentRevision.objects.get_or_create(
                document=document,
                content_hash=item.content_hash,
                defaults={
                    "title": title,
                    "uri": item.uri,
                    "content": parsed.text.replace("\x00", ""),
                    "modified_at": item.modified_at,
                    "version": item.version,
                    "metadata": item.metadata,
                },
            )
            document_access_list_set(document=document, principals=item.access_list)
        item.state, item.document, item.revision, item.content = SyncItem.State.DONE, document, revision, None
        revision_ids.append(revision.pk)
    # The expensive part: chunks and embeddings of this batch, outside any long transaction.
    work = revision_chunks_ensure(revision_ids=revision_ids, pipeline=pipeline)
    with transaction.atomic():
        SyncItem.objects.bulk_update(items, ["state", "reason", "content", "document", "revision"])
        SyncJob.objects.filter(pk=job.pk).update(
            progress_done=F("progress_done") + len(items),
            embeddings_computed=F("embeddings_computed") + work["embeddings_computed"],
            bytes_added=F("bytes_added") + work["bytes"],
            heartbeat_at=timezone.now(),
        )
