"""Compliance purge: a document's text, chunks and embeddings out of every version, for good."""

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from acl.models import AuditEvent
from acl.services import audit_record
from index_versions.models import Chunk, DuplicateSpan, Embedding, IndexVersion, MembershipSpan
from index_versions.services import figures
from index_versions.services.keyword_statistics import keyword_statistics_purge
from index_versions.services.locking import versions_lock
from sources.models import Document, DocumentRevision, SyncItem, SyncJob, UploadedFile


def _versions_holding(spans: list[tuple]) -> dict[int, list[tuple]]:
    """``{version id: [(revision, source), ...]}`` of the kept versions these spans are in."""
    if not spans:
        return {}
    inside = Q()
    for _, _, valid_from, valid_to in spans:
        inside |= Q(pk__gte=valid_from, pk__lt=valid_to)
    return {
        version_id: [(revision, source) for revision, source, start, end in spans if start <= version_id < end]
        for version_id in IndexVersion.objects.filter(inside).values_list("pk", flat=True)
    }


def _answers_redact(chunk_ids: list[int]) -> int:
    """Answer texts kept in the audit (``AUDIT_ANSWER_TEXT=keep``) that cited these chunks lose their text."""
    if not chunk_ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {AuditEvent._meta.db_table} SET details = details - 'answer'
            WHERE action = %(action)s AND details ? 'answer' AND EXISTS (
                SELECT 1 FROM jsonb_array_elements_text(coalesce(details->'cited_chunks', '[]'::jsonb)) cited
                WHERE cited::bigint = ANY(%(chunks)s))
            """,
            {"action": AuditEvent.Action.ANSWER, "chunks": chunk_ids},
        )
        return cursor.rowcount


@transaction.atomic
def document_purge(*, document: Document, actor=None) -> Document:
    """Remove a document's text, chunks and embeddings from every index version, for good.

    This is the one operation that changes ready versions (their counts and
    fingerprints follow). The document row stays as a tombstone (no title, URI,
    date or content; its external id replaced by a key that only recognises it) so
    that a later sync skips it and no rollback can bring the content back. Also
    removed: what a running sync staged of it, an upload's bytes, and answer texts
    the audit kept that quoted it. Safe to repeat: a purge that finds any residue
    removes it (and is audited again). Embeddings shared with another document's
    identical text stay, since that text is still legitimately indexed.
    """
    versions_lock()
    document = Document.objects.select_for_update().select_related("source").get(pk=document.pk)
    original_id = document.external_id
    spans = list(
        MembershipSpan.objects.filter(document=document).values_list(
            "revision_id", "source_id", "valid_from", "valid_to"
        )
    )
    holding = _versions_holding(spans)
    chunks = list(Chunk.objects.filter(revision__document=document).values_list("pk", "embedding_id"))
    staged = SyncItem.objects.filter(job__status__in=SyncJob.IN_FLIGHT, job__source_id=document.source_id).filter(
        Q(document=document) | Q(external_id=original_id)
    )
    uploads = UploadedFile.objects.filter(source_id=document.source_id, name=original_id)
    residue = (
        bool(spans or chunks)
        or DocumentRevision.objects.filter(document=document).exists()
        or staged.exclude(state=SyncItem.State.PURGED).exists()
        or uploads.exists()
        or document.purged_at is None
        or not original_id.startswith("purged:")
    )
    if not residue:
        return document
    chunks_of = {
        version.pk: figures.chunk_counts(
            pipeline_id=version.pipeline_id, revision_ids=[revision for revision, _ in holding[version.pk]]
        )
        for version in IndexVersion.objects.filter(pk__in=list(holding))
    }
    redacted = _answers_redact([chunk_id for chunk_id, _ in chunks])
    keyword_statistics_purge(spans=[(revision, source, start, end) for revision, source, start, end in spans])
    # Revisions cascade to their chunks, signatures and spans.
    DocumentRevision.objects.filter(document=document).delete()
    DuplicateSpan.objects.filter(document=document).delete()
    Embedding.objects.filter(pk__in={embedding_id for _, embedding_id in chunks}).exclude(
        Exists(Chunk.objects.filter(embedding_id=OuterRef("pk")))
    ).delete()
    staged.update(state=SyncItem.State.PURGED, content=None, revision=None, reason="")
    uploads.delete()
    if not original_id.startswith("purged:"):
        document.external_id = Document.tombstone_key(original_id)
    document.title, document.uri, document.content_hash, document.modified_at = "(purged)", "", "", None
    if document.purged_at is None:
        document.purged_at, document.purged_by = timezone.now(), actor
    document.save(
        update_fields=[
            "external_id",
            "title",
            "uri",
            "content_hash",
            "modified_at",
            "purged_at",
            "purged_by",
            "updated_at",
        ]
    )
    for version in IndexVersion.objects.filter(pk__in=list(holding)).select_for_update():
        # A version holds one revision of a document: one removed row.
        revision, source = holding[version.pk][0]
        version.counts = {
            **version.counts,
            "documents": version.counts.get("documents", 0) - 1,
            "chunks": version.counts.get("chunks", 0) - chunks_of[version.pk].get(revision, 0),
        }
        version.source_fingerprints = figures.fingerprints_adjusted(
            version.source_fingerprints, {document.pk: ((revision, source), None)}
        )
        version.save(update_fields=["counts", "source_fingerprints"])
    audit_record(
        actor=actor,
        action=AuditEvent.Action.DOCUMENT_PURGE,
        target=f"document:{document.pk}",
        # The external id is not repeated here: it may itself be what had to go.
        details={"source": document.source_id, "versions": sorted(holding), "answers_redacted": redacted},
    )
    return document
