"""The process step: a batch of pending documents parsed (sandboxed), stored as revisions, chunked and embedded."""

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from acl.services import document_access_lists_set
from index_versions.services.duplicates import revision_signatures_ensure
from index_versions.services.pipelines import pipeline_for_sync
from index_versions.services.storage import revision_chunks_ensure
from sources.models import Document, SyncItem, SyncJob
from sources.parsers import ParseError, sandbox
from sources.services.documents import ParsedDocument, documents_store


def _batch_size() -> int:
    return getattr(settings, "SYNC_BATCH_DOCUMENTS", 100)


def _parse_timeout() -> float:
    return getattr(settings, "SOURCE_PARSE_TIMEOUT_SECONDS", 60)


def sync_process_batch(job: SyncJob) -> None:
    """Parse, store and embed the next batch of pending documents; move to ``finish`` when none is left.

    Parsing is per document (sandboxed, with a deadline); storing is set-based, a
    fixed number of statements per batch whatever its size.
    """
    items = list(SyncItem.objects.filter(job=job, state=SyncItem.State.PENDING).order_by("pk")[: _batch_size()])
    if not items:
        SyncJob.objects.filter(pk=job.pk).update(phase=SyncJob.Phase.FINISH, heartbeat_at=timezone.now())
        return
    pipeline = pipeline_for_sync()
    timeout = _parse_timeout()
    parsed: list[ParsedDocument] = []
    for item in items:
        try:
            result = sandbox.parse(
                bytes(item.content), media_type=item.media_type, name=item.external_id, timeout=timeout
            )
        except ParseError as exc:
            # The document keeps its previous content in the new version (see the finish step).
            item.state, item.reason, item.content = SyncItem.State.FAILED, str(exc)[:500], None
            continue
        parsed.append(
            ParsedDocument(
                external_id=item.external_id,
                title=(result.title or item.title or item.external_id)[:500],
                uri=item.uri,
                content_hash=item.content_hash,
                text=result.text,
                modified_at=item.modified_at,
                version=item.version,
                metadata=item.metadata,
            )
        )
    with transaction.atomic():
        stored = documents_store(source_id=job.source_id, parsed=parsed)
        by_external_id = {item.external_id: item for item in items}
        document_access_lists_set(
            source_id=job.source_id,
            lists={document_id: by_external_id[e].access_list for e, (document_id, _) in stored.items()},
        )
    for document in parsed:
        item = by_external_id[document.external_id]
        if document.external_id in stored:
            item.state, item.content = SyncItem.State.DONE, None
            item.document_id, item.revision_id = stored[document.external_id]
        else:  # purged while this sync ran: its content is not taken in
            item.state, item.content = SyncItem.State.PURGED, None
    revision_ids = [revision_id for _, revision_id in stored.values()]
    # The expensive part: chunks and embeddings of this batch, outside any long transaction.
    work = revision_chunks_ensure(revision_ids=revision_ids, pipeline=pipeline)
    revision_signatures_ensure(revision_ids=revision_ids)  # duplicate detection's, outside the version lock
    with transaction.atomic():
        # A purge that ran since the store wins: what it removed is not recorded as taken in.
        purged = set(
            Document.objects.filter(pk__in=[d for d, _ in stored.values()], purged_at__isnull=False).values_list(
                "pk", flat=True
            )
        )
        for item in items:
            if item.document_id in purged:
                item.state, item.revision_id = SyncItem.State.PURGED, None
        SyncItem.objects.bulk_update(items, ["state", "reason", "content", "document", "revision"])
        SyncJob.objects.filter(pk=job.pk).update(
            progress_done=F("progress_done") + len(items),
            embeddings_computed=F("embeddings_computed") + work["embeddings_computed"],
            bytes_added=F("bytes_added") + work["bytes"],
            heartbeat_at=timezone.now(),
        )
