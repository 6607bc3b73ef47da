"""The fetch step: the connector lists the source; only new and changed documents are kept for parsing.

Each document's raw bytes are hashed (with its metadata); an unchanged one costs
its hash and nothing else. What is kept waits as :class:`~sources.models.SyncItem`
rows for the process step.
"""

import hashlib

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from acl.models import DocumentAccessList
from acl.services import document_access_list_set, principal_normalise
from sources.connectors import FetchedDocument, FetchFailure, get_connector
from sources.metadata import MetadataError, encoded, metadata_validate
from sources.models import Document, DocumentRevision, SyncItem, SyncJob


def _content_hash(content: bytes, metadata: dict | None = None) -> str:
    """The bytes' SHA-256, with the metadata's canonical JSON appended when there is metadata.

    So a change of metadata alone is a change (a new revision), while a document without
    metadata keeps the plain hash of its bytes it always had.
    """
    digest = hashlib.sha256(content)
    if metadata:
        digest.update(b"\x00metadata\x00" + encoded(metadata))
    return digest.hexdigest()


def _normalised_principals(principals) -> list[str] | None:
    if principals is None:
        return None
    return sorted({p for p in (principal_normalise(name) for name in principals) if p})


def sync_fetch(job: SyncJob) -> None:
    """List the source; keep the bytes of new and changed documents only; then move to ``process``.

    An unchanged document (same content hash as its newest revision) costs its hash
    and nothing else: no parse, no write, no embedding.
    """
    source = job.source
    SyncItem.objects.filter(job=job).delete()  # a resumed fetch starts over
    max_bytes = settings.SOURCE_MAX_DOCUMENT_BYTES
    documents = {d.external_id: d for d in Document.objects.filter(source=source)}
    current_revisions = dict(
        DocumentRevision.objects.filter(document__source=source, content_hash=F("document__content_hash")).values_list(
            "document_id", "id"
        )
    )
    access_lists = dict(
        DocumentAccessList.objects.filter(document__source=source).values_list("document_id", "principals")
    )
    batch: list[SyncItem] = []
    seen: set[str] = set()
    fetched = 0

    def flush() -> None:
        SyncItem.objects.bulk_create(batch, batch_size=500)
        batch.clear()
        done = SyncItem.objects.filter(job=job).exclude(state=SyncItem.State.PENDING).count()
        SyncJob.objects.filter(pk=job.pk).update(progress_done=done, heartbeat_at=timezone.now())

    for item in get_connector(source.kind).fetch(source.config, source_id=source.pk):
        if item.external_id in seen:
            continue
        seen.add(item.external_id)
        fetched += 1
        if isinstance(item, FetchFailure):
            batch.append(
                SyncItem(
                    job=job, external_id=item.external_id[:1024], state=SyncItem.State.FAILED, reason=item.reason[:500]
                )
            )
        else:
            batch.append(
                _sync_item_for(
                    job, item, documents, current_revisions, access_lists, document_access_list_set, max_bytes
                )
            )
        if len(batch) >= 500:
            flush()
            if SyncJob.objects.filter(pk=job.pk, cancel_requested_at__isnull=False).exists():
                return  # the next step ends it as cancelled
    flush()
    SyncJob.objects.filter(pk=job.pk).update(
        phase=SyncJob.Phase.PROCESS, progress_total=fetched, heartbeat_at=timezone.now()
    )


def _sync_item_for(job, item: FetchedDocument, documents, current_revisions, access_lists, set_access, max_bytes):
    common = {"job": job, "external_id": item.external_id[:1024]}
    if not item.content:
        return SyncItem(**common, state=SyncItem.State.FAILED, reason="empty file")
    if len(item.content) > max_bytes:
        return SyncItem(
            **common,
            state=SyncItem.State.FAILED,
            reason=f"over the size limit ({len(item.content)} > {max_bytes} bytes)",
        )
    try:
        metadata = metadata_validate(item.metadata)
    except MetadataError as exc:
        return SyncItem(**common, state=SyncItem.State.FAILED, reason=str(exc)[:500])
    content_hash = _content_hash(item.content, metadata)
    document = documents.get(item.external_id)
    if document is not None and document.purged_at is not None:
        # A compliance purge is final: the content is not taken in again.
        return SyncItem(**common, state=SyncItem.State.PURGED, document=document)
    if document is not None and document.content_hash == content_hash and document.pk in current_revisions:
        if document.uri != item.uri:  # moved, same content: no new revision
            Document.objects.filter(pk=document.pk).update(uri=item.uri, updated_at=timezone.now())
        # The source's own access list applies live; written only when it changed.
        wanted = _normalised_principals(item.access_list)
        have = access_lists.get(document.pk)
        if (wanted is None) != (have is None) or (wanted is not None and sorted(have) != wanted):
            set_access(document=document, principals=item.access_list)
        return SyncItem(
            **common,
            state=SyncItem.State.UNCHANGED,
            content_hash=content_hash,
            document=document,
            revision_id=current_revisions[document.pk],
        )
    return SyncItem(
        **common,
        state=SyncItem.State.PENDING,
        content=item.content,
        content_hash=content_hash,
        media_type=item.media_type[:200],
        title=item.title[:500],
        uri=item.uri[:2048],
        modified_at=item.modified_at,
        access_list=list(item.access_list) if item.access_list is not None else None,
        version=item.version[:200],
        metadata=metadata,
    )
