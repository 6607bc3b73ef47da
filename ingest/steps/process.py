"""The process step: a batch of pending documents parsed (sandboxed), stored as revisions, chunked and embedded.

The three stages overlap so that the model is never idle waiting for the rest:
a parse thread runs ahead through the batch (the parser itself is a child
process), the embedding of one group of documents runs on an embedding thread
(the model releases the GIL), and this thread stores the next group, chunks it,
and writes the previous group's vectors and chunks meanwhile. The database is only
ever used from this thread. Crash safety is the batch's, as before: the items are
marked done in one transaction at the end, every write before it is idempotent
(revisions by content hash, chunks all or none per revision, vectors by text hash),
so a killed worker's batch is simply processed again.
"""

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from acl.services import document_access_lists_set
from index_versions import embedding
from index_versions.services.duplicates import revision_signatures_ensure
from index_versions.services.pipelines import pipeline_for_sync
from index_versions.services.storage import ChunkPlan, chunk_plan_store, revision_chunks_plan
from sources.models import Document, SyncItem, SyncJob
from sources.parsers import ParseError, sandbox
from sources.services.documents import ParsedDocument, documents_store

# Documents stored, chunked and embedded together: small enough that the model starts early in a batch,
# large enough for long, length-sorted forward passes across documents.
GROUP_DOCUMENTS = 25


def _batch_size() -> int:
    return getattr(settings, "SYNC_BATCH_DOCUMENTS", 100)


def _parse_timeout() -> float:
    return getattr(settings, "SOURCE_PARSE_TIMEOUT_SECONDS", 60)


@dataclass
class _Parsed:
    item: SyncItem
    document: ParsedDocument | None = None
    reason: str = ""


def _parse(item: SyncItem, *, timeout: float) -> _Parsed:
    """Runs on the parse thread: no database, no change to ``item`` (this thread applies the outcome)."""
    try:
        result = sandbox.parse(bytes(item.content), media_type=item.media_type, name=item.external_id, timeout=timeout)
    except ParseError as exc:
        return _Parsed(item=item, reason=str(exc)[:500])
    return _Parsed(
        item=item,
        document=ParsedDocument(
            external_id=item.external_id,
            title=(result.title or item.title or item.external_id)[:500],
            uri=item.uri,
            content_hash=item.content_hash,
            text=result.text,
            modified_at=item.modified_at,
            version=item.version,
            metadata=item.metadata,
        ),
    )


def _groups(results: Iterator[_Parsed], size: int) -> Iterator[list[_Parsed]]:
    group: list[_Parsed] = []
    for result in results:
        group.append(result)
        if len(group) >= size:
            yield group
            group = []
    if group:
        yield group


def _store(job: SyncJob, group: list[_Parsed]) -> dict[str, tuple[int, int]]:
    """Revisions and access lists of a group's parsed documents; marks the group's items (in memory)."""
    for result in group:
        if result.document is None:
            # The document keeps its previous content in the new version (see the finish step).
            result.item.state, result.item.reason, result.item.content = SyncItem.State.FAILED, result.reason, None
    parsed = [result.document for result in group if result.document is not None]
    by_external_id = {result.item.external_id: result.item for result in group}
    with transaction.atomic():
        stored = documents_store(source_id=job.source_id, parsed=parsed)
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
    return stored


def sync_process_batch(job: SyncJob) -> None:
    """Parse, store and embed the next batch of pending documents; move to ``finish`` when none is left.

    Parsing is per document (sandboxed, with a deadline); storing is set-based, a
    fixed number of statements per group of :data:`GROUP_DOCUMENTS` whatever its size.
    """
    items = list(SyncItem.objects.filter(job=job, state=SyncItem.State.PENDING).order_by("pk")[: _batch_size()])
    if not items:
        SyncJob.objects.filter(pk=job.pk).update(phase=SyncJob.Phase.FINISH, heartbeat_at=timezone.now())
        return
    pipeline = pipeline_for_sync()
    embedding.encoder(pipeline.embedding_model)  # loaded here, never first on the embedding thread
    timeout = _parse_timeout()
    work = {"embeddings_computed": 0, "bytes": 0}
    stored: dict[str, tuple[int, int]] = {}

    def store_vectors(plan: ChunkPlan, vectors: Future) -> None:
        figures = chunk_plan_store(plan=plan, vectors=vectors.result())
        work["embeddings_computed"] += figures["embeddings_computed"]
        work["bytes"] += figures["bytes"]

    parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-parse")
    embedder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-embed")
    try:
        results = parser.map(lambda item: _parse(item, timeout=timeout), items)  # runs ahead through the batch
        embedding_group: tuple[ChunkPlan, Future] | None = None
        for group in _groups(results, GROUP_DOCUMENTS):
            group_stored = _store(job, group)
            stored.update(group_stored)
            revision_ids = [revision_id for _, revision_id in group_stored.values()]
            plan = revision_chunks_plan(revision_ids=revision_ids, pipeline=pipeline)
            if embedding_group is not None:
                plan.leave_to(embedding_group[0])  # a text of both groups is embedded once
            vectors = embedder.submit(embedding.embed_texts, plan.missing_texts, model=pipeline.embedding_model)
            if embedding_group is not None:
                store_vectors(*embedding_group)  # the previous group's, while this one embeds
            embedding_group = (plan, vectors)
            revision_signatures_ensure(revision_ids=revision_ids)  # duplicate detection's, outside the version lock
            SyncJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
        if embedding_group is not None:
            store_vectors(*embedding_group)
    finally:
        parser.shutdown(wait=True, cancel_futures=True)
        embedder.shutdown(wait=True, cancel_futures=True)
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
