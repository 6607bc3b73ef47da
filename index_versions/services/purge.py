"""Compliance purge: a document's text, chunks and embeddings out of every version, for good."""

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from acl.models import AuditEvent
from acl.services import audit_record
from index_versions.models import Chunk, Embedding, IndexVersion, VersionDocument
from sources.models import Document, DocumentRevision


@transaction.atomic
def document_purge(*, document: Document, actor=None) -> Document:
    """Remove a document's text, chunks and embeddings from every index version, for good.

    This is the one operation that changes ready versions. The document row stays
    as a tombstone (no title, no URI, no content) so that a later sync skips it and
    no rollback can bring the content back. Embeddings shared with another
    document's identical text stay, since that text is still legitimately indexed.
    Audited with who, when and which versions held it.
    """
    document = Document.objects.select_for_update().get(pk=document.pk)
    if document.purged_at is not None:
        return document
    version_ids = sorted(set(VersionDocument.objects.filter(document=document).values_list("version_id", flat=True)))
    embedding_ids = set(Chunk.objects.filter(revision__document=document).values_list("embedding_id", flat=True))
    # Revisions cascade to their chunks and to the membership rows of every version.
    DocumentRevision.objects.filter(document=document).delete()
    Embedding.objects.filter(pk__in=embedding_ids).exclude(
        Exists(Chunk.objects.filter(embedding_id=OuterRef("pk")))
    ).delete()
    document.title, document.uri, document.content_hash = "(purged)", "", ""
    document.purged_at, document.purged_by = timezone.now(), actor
    document.save(update_fields=["title", "uri", "content_hash", "purged_at", "purged_by", "updated_at"])
    for version in IndexVersion.objects.filter(pk__in=version_ids).select_for_update():
        entries = VersionDocument.objects.filter(version=version)
        version.counts = {
            **version.counts,
            "documents": entries.count(),
            "chunks": Chunk.objects.filter(
                pipeline_id=version.pipeline_id, revision_id__in=entries.values("revision_id")
            ).count(),
        }
        version.save(update_fields=["counts"])
    audit_record(
        actor=actor,
        action=AuditEvent.Action.DOCUMENT_PURGE,
        target=f"document:{document.pk}",
        details={"source": document.source_id, "external_id": document.external_id, "versions": version_ids},
    )
    return document
