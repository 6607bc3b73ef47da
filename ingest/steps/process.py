"""The process step: batches of pending documents parsed (sandboxed), stored as revisions, chunked and embedded.

The three stages overlap so that the model is never idle waiting for the rest:
a parse thread runs ahead through this batch and the next (the parser itself is a
child process), the embedding of one group of documents runs on an embedding thread
(the model releases the GIL), and this thread stores the next group, chunks it,
and writes the previous group's vectors, chunks and postings meanwhile. The database
is only ever used from this thread. Crash safety is the batch's, as before: a batch's
items are marked done in one transaction once all its groups are stored, every write
before it is idempotent (revisions by content hash, chunks all or none per revision,
vectors by text hash), so a killed worker's unmarked batches are simply processed again.
A step takes batches for about ``SYNC_STEP_SECONDS``, so the pipeline drains once per
step rather than once per batch, and no task runs for long.
"""

import itertools
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

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
# A step's first group: the model starts once a few documents are parsed, not a whole group.
LEAD_GROUP_DOCUMENTS = 5


def _batch_size() -> int:
    return getattr(settings, "SYNC_BATCH_DOCUMENTS", 100)


def _step_seconds() -> float:
    return getattr(settings, "SYNC_STEP_SECONDS", 60)


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


def _pending(job: SyncJob, *, after: int) -> list[SyncItem]:
    """The next batch: pending items after item ``after``, in order."""
    return list(
        SyncItem.objects.filter(job=job, state=SyncItem.State.PENDING, pk__gt=after).order_by("pk")[: _batch_size()]
    )


def _may_continue(job: SyncJob) -> bool:
    """Whether the job is still this step's to run: not cancelled, not ended, not resumed under a newer attempt."""
    return SyncJob.objects.filter(
        pk=job.pk, status=SyncJob.Status.RUNNING, attempt=job.attempt, cancel_requested_at__isnull=True
    ).exists()


@dataclass
class _Batch:
    """A batch of items, parsed ahead on the parse thread; its items are marked done together, once all is stored."""

    items: list[SyncItem]
    parsed: list[Future]  # one per item
    stored: dict[str, tuple[int, int]] = field(default_factory=dict)
    work: dict[str, int] = field(default_factory=lambda: {"embeddings_computed": 0, "bytes": 0})

    def groups(self, *, lead: int = GROUP_DOCUMENTS) -> list[list[Future]]:
        """The batch cut into groups: the first of ``lead`` documents, the others of :data:`GROUP_DOCUMENTS`."""
        starts = [0, *range(lead, len(self.parsed), GROUP_DOCUMENTS)]
        return [self.parsed[start:end] for start, end in itertools.pairwise([*starts, len(self.parsed)])]


def _batch_done(job: SyncJob, batch: _Batch) -> None:
    """Mark the batch's items and add its figures to the job's, in one transaction."""
    with transaction.atomic():
        # A purge that ran since the store wins: what it removed is not recorded as taken in.
        purged = set(
            Document.objects.filter(pk__in=[d for d, _ in batch.stored.values()], purged_at__isnull=False).values_list(
                "pk", flat=True
            )
        )
        for item in batch.items:
            if item.document_id in purged:
                item.state, item.revision_id = SyncItem.State.PURGED, None
        SyncItem.objects.bulk_update(batch.items, ["state", "reason", "content", "document", "revision"])
        SyncJob.objects.filter(pk=job.pk).update(
            progress_done=F("progress_done") + len(batch.items),
            embeddings_computed=F("embeddings_computed") + batch.work["embeddings_computed"],
            bytes_added=F("bytes_added") + batch.work["bytes"],
            heartbeat_at=timezone.now(),
        )


def sync_process_batches(job: SyncJob) -> None:
    """Parse, store and embed batches of pending documents for about ``SYNC_STEP_SECONDS``; then ``finish``.

    Parsing is per document (sandboxed, with a deadline); storing is set-based, a
    fixed number of statements per group of :data:`GROUP_DOCUMENTS` whatever its size.
    The next batch is parsed while this one is stored and embedded, so the model does
    not wait at batch boundaries; with ``SYNC_STEP_SECONDS`` 0 a step takes one batch.
    A cancel requested meanwhile stops the step after the batch in hand and the one
    already parsed ahead.
    """
    first = _pending(job, after=0)
    if not first:
        SyncJob.objects.filter(pk=job.pk).update(phase=SyncJob.Phase.FINISH, heartbeat_at=timezone.now())
        return
    pipeline = pipeline_for_sync()
    embedding.encoder(pipeline.embedding_model)  # loaded here, never first on the embedding thread
    timeout = _parse_timeout()
    deadline = time.monotonic() + _step_seconds()
    parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-parse")
    embedder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-embed")
    # The group being embedded: its plan, its vectors to come, its batch, and whether it ends that batch.
    embedding_group: tuple[ChunkPlan, Future, _Batch, bool] | None = None

    def batch_open(items: list[SyncItem]) -> _Batch:
        return _Batch(items=items, parsed=[parser.submit(_parse, item, timeout=timeout) for item in items])

    def embedding_group_store() -> None:
        plan, vectors, batch, ends_batch = embedding_group
        figures = chunk_plan_store(plan=plan, vectors=vectors.result())
        batch.work["embeddings_computed"] += figures["embeddings_computed"]
        batch.work["bytes"] += figures["bytes"]
        if ends_batch:
            _batch_done(job, batch)

    try:
        batch: _Batch | None = batch_open(first)
        while batch is not None:
            upcoming = None
            if time.monotonic() < deadline and _may_continue(job):
                following = _pending(job, after=batch.items[-1].pk)
                upcoming = batch_open(following) if following else None
            # While the model has nothing to embed yet, a short first group gets it started.
            groups = batch.groups(lead=LEAD_GROUP_DOCUMENTS if embedding_group is None else GROUP_DOCUMENTS)
            for index, futures in enumerate(groups):
                group = [future.result() for future in futures]
                group_stored = _store(job, group)
                batch.stored.update(group_stored)
                revision_ids = [revision_id for _, revision_id in group_stored.values()]
                plan = revision_chunks_plan(revision_ids=revision_ids, pipeline=pipeline)
                if embedding_group is not None:
                    plan.leave_to(embedding_group[0])  # a text of both groups is embedded once
                vectors = embedder.submit(embedding.embed_texts, plan.missing_texts, model=pipeline.embedding_model)
                if embedding_group is not None:
                    embedding_group_store()  # the previous group's, while this one embeds
                embedding_group = (plan, vectors, batch, index == len(groups) - 1)
                revision_signatures_ensure(revision_ids=revision_ids)  # duplicate detection's, outside the version lock
                SyncJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
            batch = upcoming
        if embedding_group is not None:
            embedding_group_store()
    finally:
        parser.shutdown(wait=True, cancel_futures=True)
        embedder.shutdown(wait=True, cancel_futures=True)
