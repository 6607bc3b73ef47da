"""The fetch step: the connector lists the source; only new and changed documents are kept for parsing.

Each document's raw bytes are hashed (with its metadata); an unchanged one costs
its hash and nothing else. What is kept waits as :class:`~sources.models.SyncItem`
rows for the process step.
"""

import hashlib
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from acl.models import DocumentAccessList
from acl.services import document_access_lists_set
from sources.connectors import FetchedDocument, FetchFailure, get_connector
from sources.metadata import MetadataError, encoded, metadata_validate
from sources.models import Document, DocumentRevision, SyncItem, SyncJob
from sources.services.documents import documents_move


def _content_hash(content: bytes, metadata: dict | None = None) -> str:
    """The bytes' SHA-256, with the metadata's canonical JSON appended when there is metadata.

    So a change of metadata alone is a change (a new revision), while a document without
    metadata keeps the plain hash of its bytes it always had.
    """
    digest = hashlib.sha256(content)
    if metadata:
        digest.update(b"\x00metadata\x00" + encoded(metadata))
    return digest.hexdigest()


@dataclass
class _Listing:
    """What the fetch knows of the source's documents before it lists the source, and what it learns."""

    documents: dict[str, tuple[int, str, str]]  # external id -> (id, content hash, uri), tombstones excluded
    tombstones: set[str]  # external ids and tombstone keys of purged documents
    current_revisions: dict[int, int]  # document id -> the revision of its content hash
    listed_access_lists: dict[int, tuple | list | None] = field(default_factory=dict)
    moved: dict[int, str] = field(default_factory=dict)  # document id -> new uri (same content)

    def is_purged(self, external_id: str) -> bool:
        return external_id in self.tombstones or Document.tombstone_key(external_id) in self.tombstones


def _listing(source) -> _Listing:
    documents, tombstones = {}, set()
    for pk, external_id, content_hash, uri, purged_at in Document.objects.filter(source=source).values_list(
        "pk", "external_id", "content_hash", "uri", "purged_at"
    ):
        if purged_at is not None:
            tombstones.add(external_id)
        else:
            documents[external_id] = (pk, content_hash, uri)
    current = dict(
        DocumentRevision.objects.filter(document__source=source, content_hash=F("document__content_hash")).values_list(
            "document_id", "id"
        )
    )
    return _Listing(documents=documents, tombstones=tombstones, current_revisions=current)


def _failure_access(listing: _Listing, failure: FetchFailure, had_list: set[int]) -> None:
    """A document that could not be read keeps its content but takes the listed access list, or is hidden.

    Hidden (an empty list) when the connector could not tell the list and the
    document had one: fail closed, never open.
    """
    known = listing.documents.get(failure.external_id)
    if known is None:
        return
    if failure.access_list_known:
        listing.listed_access_lists[known[0]] = failure.access_list
    elif known[0] in had_list:
        listing.listed_access_lists[known[0]] = []


def sync_fetch(job: SyncJob) -> None:
    """List the source; keep the bytes of new and changed documents only; then move to ``process``.

    An unchanged document (same content hash as its newest revision) costs its hash
    and nothing else: no parse, no write, no embedding. Access lists are applied from
    the listing for every known document, whether or not its content can be read.
    """
    source = job.source
    SyncItem.objects.filter(job=job).delete()  # a resumed fetch starts over
    max_bytes = settings.SOURCE_MAX_DOCUMENT_BYTES
    listing = _listing(source)
    had_list = set(DocumentAccessList.objects.filter(document__source=source).values_list("document_id", flat=True))
    batch: list[SyncItem] = []
    seen: set[str] = set()
    fetched = 0

    def flush() -> None:
        SyncItem.objects.bulk_create(batch, batch_size=500)
        batch.clear()
        document_access_lists_set(source_id=source.pk, lists=listing.listed_access_lists)
        listing.listed_access_lists.clear()
        if listing.moved:
            documents_move(moved=listing.moved)
            listing.moved.clear()
        done = SyncItem.objects.filter(job=job).exclude(state=SyncItem.State.PENDING).count()
        SyncJob.objects.filter(pk=job.pk).update(progress_done=done, heartbeat_at=timezone.now())

    for item in get_connector(source.kind).fetch(source.config, source_id=source.pk):
        if item.external_id in seen:
            continue
        seen.add(item.external_id)
        fetched += 1
        if listing.is_purged(item.external_id):
            # A compliance purge is final: nothing of the document is taken in again.
            batch.append(SyncItem(job=job, external_id=item.external_id[:1024], state=SyncItem.State.PURGED))
        elif isinstance(item, FetchFailure):
            _failure_access(listing, item, had_list)
            batch.append(
                SyncItem(
                    job=job, external_id=item.external_id[:1024], state=SyncItem.State.FAILED, reason=item.reason[:500]
                )
            )
        else:
            known = listing.documents.get(item.external_id)
            if known is not None:
                listing.listed_access_lists[known[0]] = item.access_list
            batch.append(_sync_item_for(job, item, listing, max_bytes))
        if len(batch) >= 500:
            flush()
            if SyncJob.objects.filter(pk=job.pk, cancel_requested_at__isnull=False).exists():
                return  # the next step ends it as cancelled
    flush()
    SyncJob.objects.filter(pk=job.pk).update(
        phase=SyncJob.Phase.PROCESS, progress_total=fetched, heartbeat_at=timezone.now()
    )


def _sync_item_for(job, item: FetchedDocument, listing: _Listing, max_bytes: int) -> SyncItem:
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
    known = listing.documents.get(item.external_id)
    if known is not None and known[1] == content_hash and known[0] in listing.current_revisions:
        if known[2] != item.uri:  # moved, same content: no new revision
            listing.moved[known[0]] = item.uri[:2048]
        return SyncItem(
            **common,
            state=SyncItem.State.UNCHANGED,
            content_hash=content_hash,
            document_id=known[0],
            revision_id=listing.current_revisions[known[0]],
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
